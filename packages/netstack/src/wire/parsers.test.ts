// Parsers take hostile bytes: property tests that build -> parse round-trips, that every truncation
// and random byte string is refused with a reason (never a throw), and that corruption is detected.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildIcmp, buildTcp, buildUdp, decode } from '../testing/packets.js';
import { pseudoHeaderSum } from './checksum.js';
import { parseIp } from './address.js';
import { IPPROTO_TCP } from './constants.js';
import { IcmpMessage, parseIcmp } from './icmp.js';
import { IpInfo } from './ip-info.js';
import { parseIpv4 } from './ipv4.js';
import { parseIpv6 } from './ipv6.js';
import { parseTcp, TcpSegment } from './tcp.js';
import { parseUdp, UdpDatagram } from './udp.js';

const v4 = fc.ipV4();
const v6 = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  .map((g) => g.map((x) => x.toString(16)).join(':'))
  .filter((t) => !parseIp(t)!.isUnspecified);
const port = fc.integer({ min: 1, max: 65535 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const tcpSpec = fc.record({
  fam: fc.constantFrom(4, 6),
  a4: v4,
  b4: v4,
  a6: v6,
  b6: v6,
  sport: port,
  dport: port,
  seq: u32,
  ack: u32,
  flags: fc.constantFrom('S', 'S.', '.', 'P.', 'F.', 'R', 'R.', 'FP.'),
  win: fc.integer({ min: 0, max: 65535 }),
  mss: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
  wscale: fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
  sackOk: fc.boolean(),
  ts: fc.option(fc.tuple(u32, u32), { nil: undefined }),
  sack: fc.array(fc.tuple(u32, u32), { maxLength: 3 }),
  payload: fc.uint8Array({ maxLength: 1400 }),
});

describe('wire parsers', () => {
  it('TCP over IPv4/IPv6: build -> parse round-trips every field and option (property)', () => {
    fc.assert(
      fc.property(tcpSpec, (s) => {
        const [src, dst] = s.fam === 4 ? [s.a4, s.b4] : [s.a6, s.b6];
        // Options must fit in 40 bytes: SYN options or SACK blocks, as real segments carry them.
        const syn = s.flags.includes('S');
        const spec = {
          src,
          dst,
          sport: s.sport,
          dport: s.dport,
          seq: s.seq,
          ack: s.ack,
          flags: s.flags,
          win: s.win,
          mss: syn ? s.mss : undefined,
          wscale: syn ? s.wscale : undefined,
          sackOk: syn ? s.sackOk : false,
          ts: s.ts,
          sack: syn ? [] : s.sack,
          payload: s.payload,
        };
        const d = decode(buildTcp(spec));
        expect(d.src).toBe(parseIp(src)!.toString());
        expect(d.dst).toBe(parseIp(dst)!.toString());
        const t = d.tcp!;
        expect([t.sport, t.dport, t.seq, t.ack, t.win]).toEqual([s.sport, s.dport, s.seq, s.ack, s.win]);
        expect(t.mss).toBe(spec.mss ?? 0);
        expect(t.wscale).toBe(spec.wscale ?? -1);
        expect(t.sackOk).toBe(spec.sackOk);
        expect(t.ts).toEqual(s.ts ?? null);
        expect(t.sack).toEqual(spec.sack);
        expect(Buffer.from(t.payload).equals(Buffer.from(s.payload))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('every truncation of a valid packet is refused with a reason, never a throw (property)', () => {
    fc.assert(
      fc.property(tcpSpec, (s) => {
        const pkt = buildTcp({
          src: s.fam === 4 ? s.a4 : s.a6,
          dst: s.fam === 4 ? s.b4 : s.b6,
          sport: s.sport,
          dport: s.dport,
          seq: s.seq,
          flags: '.',
          payload: s.payload.subarray(0, 40),
        });
        const info = new IpInfo();
        for (let n = 0; n < pkt.length; n++) {
          const cut = pkt.slice(0, n);
          const r = s.fam === 4 ? parseIpv4(cut, n, info) : parseIpv6(cut, n, info);
          expect(r).not.toBe('ok');
        }
      }),
      { numRuns: 50 },
    );
  });

  it('random bytes never throw from any parser (property)', () => {
    const info = new IpInfo();
    const seg = new TcpSegment();
    const u = new UdpDatagram();
    const m = new IcmpMessage();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(60), (b, off) => {
        const o = Math.min(off, b.length);
        parseIpv4(b, b.length, info);
        parseIpv6(b, b.length, info);
        parseTcp(b, o, b.length - o, -1, seg);
        parseTcp(b, o, b.length - o, 0, seg);
        parseUdp(b, o, b.length - o, 0, false, u);
        parseUdp(b, o, b.length - o, 0, true, u);
        parseIcmp(b, o, b.length - o, false, 0, m);
        parseIcmp(b, o, b.length - o, true, -1, m);
      }),
      { numRuns: 2000 },
    );
  });

  it('a corrupted TCP segment fails its checksum', () => {
    const pkt = buildTcp({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      sport: 1,
      dport: 2,
      seq: 5,
      flags: 'P.',
      payload: new Uint8Array(100).fill(7),
    });
    pkt[pkt.length - 1] = (pkt[pkt.length - 1] as number) ^ 0x40;
    const info = new IpInfo();
    expect(parseIpv4(pkt, pkt.length, info)).toBe('ok');
    const seg = new TcpSegment();
    const sum = pseudoHeaderSum(info.srcAddr(), info.dstAddr(), IPPROTO_TCP, info.payloadLength);
    expect(parseTcp(pkt, info.payloadOffset, info.payloadLength, sum, seg)).toBe('tcpBadChecksum');
  });

  it('IPv4 header checks: version, IHL, total length, header checksum', () => {
    const good = buildUdp({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      sport: 1,
      dport: 2,
      payload: new Uint8Array(4),
    });
    const info = new IpInfo();
    expect(parseIpv4(good, good.length, info)).toBe('ok');
    const bad = (mut: (b: Uint8Array) => void): string => {
      const b = good.slice();
      mut(b);
      return parseIpv4(b, b.length, info);
    };
    expect(bad((b) => (b[0] = 0x55))).toBe('ipBadVersion');
    expect(bad((b) => (b[0] = 0x44))).toBe('ipBadHeaderLength');
    expect(bad((b) => (b[0] = 0x4f))).toBe('ipBadHeaderLength');
    expect(bad((b) => (b[3] = 200))).toBe('ipBadTotalLength');
    expect(bad((b) => (b[8] = 1))).toBe('ipBadChecksum');
  });

  it('IPv6 extension headers: skipped, bounded, routing header refused, fragment header read', () => {
    const base = buildUdp({ src: 'fd00::1', dst: 'fd00::2', sport: 1, dport: 2, payload: new Uint8Array(8) });
    const withExt = (exts: number[][]): Uint8Array => {
      // exts: [nextHeaderType, ...8 bytes]; chain them in front of the UDP header.
      const body = base.subarray(40);
      const parts: number[] = [];
      const types = exts.map((e) => e[0] as number);
      for (let i = 0; i < exts.length; i++) {
        const e = exts[i]!.slice(1);
        e[0] = i + 1 < exts.length ? (types[i + 1] as number) : 17;
        parts.push(...e);
      }
      const out = new Uint8Array(40 + parts.length + body.length);
      out.set(base.subarray(0, 40));
      out[6] = types[0] ?? 17;
      const plen = parts.length + body.length;
      out[4] = plen >>> 8;
      out[5] = plen & 0xff;
      out.set(parts, 40);
      out.set(body, 40 + parts.length);
      return out;
    };
    const info = new IpInfo();
    const p1 = withExt([
      [0, 0, 0, 1, 4, 0, 0, 0, 0],
      [60, 0, 0, 1, 4, 0, 0, 0, 0],
    ]);
    expect(parseIpv6(p1, p1.length, info)).toBe('ok');
    expect(info.protocol).toBe(17);
    expect(info.payloadOffset).toBe(56);
    const hbhSecond = withExt([
      [60, 0, 0, 1, 4, 0, 0, 0, 0],
      [0, 0, 0, 1, 4, 0, 0, 0, 0],
    ]);
    expect(parseIpv6(hbhSecond, hbhSecond.length, info)).toBe('ipv6BadExtensionHeader');
    const routing = withExt([[43, 0, 0, 0, 1, 0, 0, 0, 0]]);
    expect(parseIpv6(routing, routing.length, info)).toBe('ipv6RoutingHeader');
    const many = withExt(Array.from({ length: 9 }, () => [60, 0, 0, 1, 4, 0, 0, 0, 0]));
    expect(parseIpv6(many, many.length, info)).toBe('ipv6TooManyExtensionHeaders');
    const frag = withExt([[44, 0, 0, 0x05, 0xa1, 0, 0, 0, 42]]);
    expect(parseIpv6(frag, frag.length, info)).toBe('ok');
    expect(info).toMatchObject({
      isFragment: true,
      fragmentOffset: 0x5a0,
      moreFragments: true,
      fragmentId: 42,
    });
    const atomic = withExt([[44, 0, 0, 0, 0, 0, 0, 0, 7]]);
    expect(parseIpv6(atomic, atomic.length, info)).toBe('ok');
    expect(info.isFragment).toBe(false);
  });

  it('UDP: zero checksum allowed on IPv4, refused on IPv6; length must fit', () => {
    const p4 = buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, payload: new Uint8Array(4) });
    p4[26] = 0;
    p4[27] = 0;
    expect(decode(p4).udp).toBeDefined();
    const p6 = buildUdp({ src: 'fd00::1', dst: 'fd00::2', sport: 1, dport: 2, payload: new Uint8Array(4) });
    p6[46] = 0;
    p6[47] = 0;
    expect(() => decode(p6)).toThrow(/udpBadChecksum/);
    const u = new UdpDatagram();
    const long = buildUdp({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      sport: 1,
      dport: 2,
      payload: new Uint8Array(4),
    });
    long[25] = 99;
    expect(parseUdp(long, 20, long.length - 20, -1, false, u)).toBe('udpBadLength');
  });

  it('ICMP errors locate the quoted flow; too-short quotes are refused', () => {
    const quoted = buildTcp({
      src: '10.0.0.2',
      dst: '198.51.100.7',
      sport: 40000,
      dport: 443,
      seq: 12345,
      flags: 'S',
    });
    const err = buildIcmp({
      src: '192.0.2.99',
      dst: '10.0.0.2',
      type: 3,
      code: 4,
      word2: 1400,
      body: quoted.subarray(0, 28),
    });
    const d = decode(err);
    expect(d.icmp).toMatchObject({ type: 3, code: 4, mtu: 1400 });
    const m = new IcmpMessage();
    parseIcmp(err, 20, err.length - 20, false, 0, m);
    expect(m).toMatchObject({
      kind: 'error',
      quotedProtocol: 6,
      quotedSrcPort: 40000,
      quotedDstPort: 443,
      quotedSeq: 12345,
    });
    const short = buildIcmp({
      src: '192.0.2.99',
      dst: '10.0.0.2',
      type: 3,
      code: 3,
      body: quoted.subarray(0, 24),
    });
    expect(parseIcmp(short, 20, short.length - 20, false, 0, m)).toBe('icmpShort');
  });
});
