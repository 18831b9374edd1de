// Hostile input through Stack.input() in shapes random bytes rarely reach: an on-path peer that knows
// the sequence space of an established connection and sends arbitrary flags, sequence/ACK numbers,
// windows, SACK blocks and timestamps; IPv6 extension-header chains and fragment headers; ICMP errors
// quoting live flows. Nothing may throw, and the per-connection structures stay within their bounds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Stack } from './stack.js';
import { buildIcmp, buildTcp, buildUdp, decode } from './testing/packets.js';
import { Prng } from './testing/prng.js';

describe('hostile input beyond random bytes (property)', () => {
  it('an on-path peer sending arbitrary segments to an established connection', () => {
    fc.assert(
      fc.property(fc.integer(), fc.boolean(), fc.boolean(), fc.boolean(), (seed, ws, sack, ts) => {
        const rng = new Prng(seed >>> 0);
        let now = 0;
        const out: ReturnType<typeof decode>[] = [];
        const stack = new Stack({
          addresses: ['10.0.0.1'],
          clock: () => now,
          random: (b) => rng.fill(b),
          sink: (p) => out.push(decode(p.slice())),
          tcp: { maxOutOfOrderRanges: 4, maxSackRanges: 4, recvBufferSize: 8192, sendBufferSize: 8192 },
        });
        const l = stack.tcpListen({ port: 80 });
        const peer = { src: '10.0.0.9', dst: '10.0.0.1', sport: 4000, dport: 80 } as const;
        const irs = rng.nextU32();
        const ts0 = rng.nextU32();
        stack.input(
          buildTcp({
            ...peer,
            seq: irs,
            flags: 'S',
            mss: 1 + rng.int(2000),
            wscale: ws ? rng.int(20) : undefined,
            sackOk: sack,
            ts: ts ? [ts0, 0] : undefined,
          }),
        );
        stack.poll();
        const synack = out.find((d) => d.tcp?.flags === 'S.')!.tcp!;
        const tsEcr = synack.ts?.[0] ?? 0;
        stack.input(
          buildTcp({
            ...peer,
            seq: irs + 1,
            ack: synack.seq + 1,
            flags: '.',
            ts: ts ? [ts0 + 1, tsEcr] : undefined,
          }),
        );
        stack.poll();
        const t = l.accept()!;
        expect(t.stateName).toBe('ESTABLISHED');
        t.handler = {
          onTcpEvents: (x) => {
            if (rng.int(3) === 0) x.skip(rng.int(3000));
          },
        };
        t.send(new Uint8Array(20000), 0, 20000);
        const flagsList = ['.', 'P.', 'F.', 'R', 'R.', 'S', 'S.', 'FP.', 'SF', ''];
        for (let i = 0; i < 150; i++) {
          const blocks: [number, number][] = [];
          if (rng.int(2) === 0) {
            for (let k = 0; k < 1 + rng.int(4); k++) {
              const a = synack.seq + rng.int(30000) - 5000;
              blocks.push([a, a + rng.int(5000) - 1000]);
            }
          }
          stack.input(
            buildTcp({
              ...peer,
              seq: (t.rcvNxt + rng.int(40000) - 20000) >>> 0,
              ack: (t.sndUna + rng.int(30000) - 10000) >>> 0,
              flags: flagsList[rng.int(flagsList.length)]!,
              win: rng.int(65536),
              sack: blocks.length > 0 ? blocks : undefined,
              ts: ts && rng.int(4) !== 0 ? [rng.nextU32(), rng.nextU32()] : undefined,
              payload: new Uint8Array(rng.int(1600)),
            }),
          );
          if (rng.int(4) === 0) {
            now += rng.int(3000);
            stack.poll();
          }
          expect(t.assembler.rangeCount).toBeLessThanOrEqual(4);
          expect(t.scoreboard.rangeCount).toBeLessThanOrEqual(4);
          expect(stack.stats().bufferBytes).toBeLessThanOrEqual(2 * 8192 + 65536);
        }
        for (let i = 0; i < 50; i++) {
          now += 10_000;
          stack.poll();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('IPv6 extension-header chains and fragment headers, to local and foreign destinations', () => {
    let now = 0;
    const rng = new Prng(3);
    const stack = new Stack({
      addresses: ['fd00::1', '10.0.0.1'],
      clock: () => now,
      random: (b) => rng.fill(b),
      sink: () => undefined,
      reassembly: { maxBytes: 20000, maxDatagrams: 4, maxFragments: 8, timeoutMs: 1000 },
    });
    stack.tcpListen({ port: 80 });
    stack.udpBind({ port: 53 });
    stack.tcpListenAny();
    stack.udpListenAny();
    stack.setIcmpEchoHandler(() => undefined);
    const header = fc.record({
      type: fc.constantFrom(0, 43, 44, 60, 6, 17, 58, 59),
      len: fc.integer({ min: 0, max: 3 }),
      b2: fc.integer({ min: 0, max: 255 }),
      b3: fc.integer({ min: 0, max: 255 }),
      fo: fc.integer({ min: 0, max: 0xffff }),
    });
    fc.assert(
      fc.property(
        fc.array(header, { maxLength: 12 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.constantFrom(6, 17, 58, 0, 44),
        fc.boolean(),
        (chain, tail, first, foreign) => {
          const parts: number[] = [];
          for (let i = 0; i < chain.length; i++) {
            const c = chain[i]!;
            const next = i + 1 < chain.length ? chain[i + 1]!.type : 6;
            if (c.type === 44) parts.push(next, 0, c.fo >>> 8, c.fo & 0xff, 0, 0, 0, 1);
            else {
              const h = new Array<number>((c.len + 1) * 8).fill(0);
              h[0] = next;
              h[1] = c.len;
              h[2] = c.b2;
              h[3] = c.b3;
              parts.push(...h);
            }
          }
          parts.push(...tail);
          const pkt = new Uint8Array(40 + parts.length);
          pkt[0] = 0x60;
          pkt[4] = parts.length >>> 8;
          pkt[5] = parts.length & 0xff;
          pkt[6] = chain.length > 0 ? chain[0]!.type : first;
          pkt[7] = 64;
          pkt[8] = 0xfd;
          pkt[23] = 9;
          pkt.set(foreign ? [0x20, 0x01, 0x0d, 0xb8] : [0xfd], 24);
          pkt[39] = foreign ? 7 : 1;
          pkt.set(parts, 40);
          stack.input(pkt);
          now += 1;
          if (now % 7 === 0) stack.poll();
        },
      ),
      { numRuns: 5000 },
    );
    expect(stack.stats().reassemblyBytes).toBeLessThanOrEqual(20000);
  });

  for (const v6 of [false, true]) {
    it(`ICMP${v6 ? 'v6' : ''} errors of every type quoting live TCP and UDP flows, whole or truncated`, () => {
      let now = 0;
      const rng = new Prng(11);
      const out: ReturnType<typeof decode>[] = [];
      const L = v6 ? 'fd00::1' : '10.0.0.1';
      const R = v6 ? 'fd00::9' : '10.0.0.9';
      const stack = new Stack({
        addresses: [L],
        clock: () => now,
        random: (b) => rng.fill(b),
        sink: (p) => out.push(decode(p.slice())),
      });
      const l = stack.tcpListen({ port: 80 });
      const ep = stack.udpBind({ port: 53 });
      stack.input(buildTcp({ src: R, dst: L, sport: 4000, dport: 80, seq: 0, flags: 'S', mss: 1400 }));
      stack.poll();
      const iss = out[0]!.tcp!.seq;
      stack.input(buildTcp({ src: R, dst: L, sport: 4000, dport: 80, seq: 1, ack: iss + 1, flags: '.' }));
      stack.poll();
      const t = l.accept()!;
      t.send(new Uint8Array(10000), 0, 10000);
      stack.poll();
      const c = stack.tcpConnect({ host: R, port: 443 });
      stack.poll();
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 255 }),
          fc.integer({ min: 0, max: 255 }),
          fc.integer({ min: 0, max: 0xffff }),
          fc.integer({ min: 0, max: 0xffff }),
          fc.integer({ min: -20000, max: 20000 }),
          fc.constantFrom(0, 1, 2),
          fc.integer({ min: 0, max: 60 }),
          (type, code, w1, w2, dseq, which, cut) => {
            let q: Uint8Array;
            if (which === 0) {
              const seq = (iss + 1 + dseq) >>> 0;
              q = buildTcp({
                src: L,
                dst: R,
                sport: 80,
                dport: 4000,
                seq,
                flags: '.',
                payload: new Uint8Array(100),
              });
            } else if (which === 1) {
              q = buildTcp({
                src: L,
                dst: R,
                sport: c.localPort,
                dport: 443,
                seq: (c.iss + dseq) >>> 0,
                flags: 'S',
              });
            } else q = buildUdp({ src: L, dst: R, sport: 53, dport: 5353, payload: new Uint8Array(10) });
            q = q.subarray(0, Math.max(0, q.length - cut));
            stack.input(buildIcmp({ src: R, dst: L, type, code, word1: w1, word2: w2, body: q }));
            now += 1;
            stack.poll();
            ep.takeError();
          },
        ),
        { numRuns: 3000 },
      );
      expect(stack.stats().icmp.errorsIn).toBeGreaterThan(0);
    });
  }
});
