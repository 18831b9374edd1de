// The capture reader, without root: frames built by hand decode to the right addresses, ports and
// payloads for each link type; truncated or garbage files never throw.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodePacket, LINKTYPE, parsePcap, readCapture } from './pcap.js';

function pcap(
  linkType: number,
  frames: Buffer[],
  opts: { bigEndian?: boolean; nano?: boolean } = {},
): Buffer {
  const w32 = (b: Buffer, v: number, off: number) =>
    opts.bigEndian ? b.writeUInt32BE(v, off) : b.writeUInt32LE(v, off);
  const w16 = (b: Buffer, v: number, off: number) =>
    opts.bigEndian ? b.writeUInt16BE(v, off) : b.writeUInt16LE(v, off);
  const head = Buffer.alloc(24);
  w32(head, opts.nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(head, 2, 4);
  w16(head, 4, 6);
  w32(head, 262144, 16);
  w32(head, linkType, 20);
  const recs = frames.map((f, i) => {
    const h = Buffer.alloc(16);
    w32(h, 1_700_000_000 + i, 0);
    w32(h, opts.nano ? 500_000_000 : 500_000, 4);
    w32(h, f.length, 8);
    w32(h, f.length, 12);
    return Buffer.concat([h, f]);
  });
  return Buffer.concat([head, ...recs]);
}

const ETH = (type: number) => Buffer.concat([Buffer.alloc(12, 0xaa), Buffer.from([type >> 8, type & 0xff])]);

function ipv4(proto: number, src: number[], dst: number[], l4: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + l4.length, 2);
  h[8] = 64;
  h[9] = proto;
  h.set(src, 12);
  h.set(dst, 16);
  return Buffer.concat([h, l4]);
}

function ipv6(next: number, src: number[], dst: number[], rest: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(rest.length, 4);
  h[6] = next;
  h[7] = 64;
  src.forEach((g, i) => h.writeUInt16BE(g, 8 + 2 * i));
  dst.forEach((g, i) => h.writeUInt16BE(g, 24 + 2 * i));
  return Buffer.concat([h, rest]);
}

function udp(sport: number, dport: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

function tcp(sport: number, dport: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h[12] = 5 << 4;
  return Buffer.concat([h, payload]);
}

const V6A = [0x2001, 0xdb8, 0x18, 2, 0, 0, 0, 2];
const V6B = [0x2001, 0xdb8, 0x100, 1, 0, 0, 0, 2];

describe('pcap reader', () => {
  it('decodes Ethernet IPv4/UDP and IPv6/TCP behind a hop-by-hop header', () => {
    const hbh = Buffer.concat([Buffer.from([6, 0]), Buffer.alloc(6)]); // next = TCP, 8 bytes
    const file = pcap(LINKTYPE.ETHERNET, [
      Buffer.concat([
        ETH(0x0800),
        ipv4(17, [198, 18, 2, 2], [198, 51, 100, 18], udp(40000, 51820, Buffer.from('hello'))),
      ]),
      Buffer.concat([
        ETH(0x86dd),
        ipv6(0, V6A, V6B, Buffer.concat([hbh, tcp(43210, 80, Buffer.from('GET / HTTP/1.1'))])),
      ]),
      Buffer.concat([ETH(0x0806), Buffer.alloc(28)]),
    ]);
    const { packets, truncated, error } = readCapture(file);
    expect(error).toBeUndefined();
    expect(truncated).toBe(false);
    expect(packets).toHaveLength(3);
    expect(packets[0]).toMatchObject({
      ipVersion: 4,
      src: '198.18.2.2',
      dst: '198.51.100.18',
      transport: 'udp',
      sport: 40000,
      dport: 51820,
      truncated: false,
    });
    expect(packets[0]?.payload.toString()).toBe('hello');
    expect(packets[0]?.ts).toBeCloseTo(1_700_000_000.5, 6);
    expect(packets[1]).toMatchObject({
      ipVersion: 6,
      src: '2001:db8:18:2::2',
      dst: '2001:db8:100:1::2',
      protocol: 6,
      transport: 'tcp',
      sport: 43210,
      dport: 80,
    });
    expect(packets[1]?.payload.toString()).toBe('GET / HTTP/1.1');
    expect(packets[2]).toMatchObject({ ethertype: 0x0806, ipVersion: undefined });
  });

  it('reads big-endian, nanosecond, cooked (SLL, SLL2) and raw-IP captures', () => {
    const ip = ipv4(1, [198, 18, 2, 2], [198, 18, 1, 2], Buffer.from([8, 0, 0, 0]));
    const sll = Buffer.concat([Buffer.alloc(14), Buffer.from([0x08, 0x00]), ip]);
    const sll2 = Buffer.concat([Buffer.from([0x08, 0x00]), Buffer.alloc(18), ip]);
    for (const [lt, frame, opts] of [
      [LINKTYPE.LINUX_SLL, sll, { bigEndian: true }],
      [LINKTYPE.LINUX_SLL2, sll2, { nano: true }],
      [LINKTYPE.RAW, ip, {}],
    ] as const) {
      const r = readCapture(pcap(lt, [frame], opts));
      expect(r.packets[0], `linktype ${lt}`).toMatchObject({
        ipVersion: 4,
        transport: 'icmp',
        dst: '198.18.1.2',
      });
      expect(r.packets[0]?.ts).toBeCloseTo(1_700_000_000.5, 6);
    }
  });

  it('marks a file cut inside a record as truncated and keeps the whole records', () => {
    const frame = Buffer.concat([
      ETH(0x0800),
      ipv4(17, [1, 2, 3, 4], [5, 6, 7, 8], udp(1, 2, Buffer.alloc(10))),
    ]);
    const file = pcap(LINKTYPE.ETHERNET, [frame, frame]);
    const cut = parsePcap(file.subarray(0, file.length - 5));
    expect(cut.ok && cut.records.length).toBe(1);
    expect(cut.ok && cut.truncated).toBe(true);
    expect(parsePcap(Buffer.alloc(10))).toEqual({ ok: false, reason: 'short-header' });
    expect(parsePcap(Buffer.alloc(24))).toEqual({ ok: false, reason: 'bad-magic' });
  });

  it('never throws on random frames or random files', () => {
    for (let i = 0; i < 5000; i++) {
      const frame = randomBytes(i % 120);
      for (const lt of [LINKTYPE.ETHERNET, LINKTYPE.LINUX_SLL, LINKTYPE.LINUX_SLL2, LINKTYPE.RAW, 999]) {
        const d = decodePacket({ ts: 0, data: frame, origLen: frame.length }, lt);
        expect(d.frame).toBe(frame);
      }
      // Random IPv4/IPv6 headers behind a valid link layer reach the deeper decoders.
      const v = i % 2 ? 0x45 : 0x60;
      const ipish = Buffer.concat([ETH(v === 0x45 ? 0x0800 : 0x86dd), Buffer.from([v]), randomBytes(i % 90)]);
      decodePacket({ ts: 0, data: ipish, origLen: ipish.length }, LINKTYPE.ETHERNET);
      const file = Buffer.concat([pcap(LINKTYPE.ETHERNET, []), randomBytes(i % 200)]);
      const r = readCapture(file);
      expect(Array.isArray(r.packets)).toBe(true);
    }
  });
});
