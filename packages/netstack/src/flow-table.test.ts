import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlowTable, type FlowEntry } from './flow-table.js';
import { IpAddr } from './wire/address.js';

class Entry implements FlowEntry {
  tableNext: FlowEntry | null = null;
  tableHash = 0;
  inTable = false;
  constructor(
    readonly local: IpAddr,
    readonly localPort: number,
    readonly remote: IpAddr,
    readonly remotePort: number,
  ) {}
}

describe('FlowTable', () => {
  it('agrees with a Map keyed by the 4-tuple through inserts, removes and growth (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.nat(40), fc.nat(5), fc.constantFrom(4, 6)), { maxLength: 400 }),
        (ops) => {
          const t = new FlowTable<Entry>(12345, 16);
          const model = new Map<string, Entry>();
          for (const [ins, port, host, fam] of ops) {
            const local = fam === 4 ? IpAddr.v4(0x0a000001) : IpAddr.v6(0xfd000000, 0, 0, 1);
            const remote = fam === 4 ? IpAddr.v4(0xc6336400 + host) : IpAddr.v6(0xfd000000, 0, 0, 100 + host);
            const key = `${fam}|${port}|${host}`;
            if (ins && !model.has(key)) {
              const e = new Entry(local, 1000 + port, remote, 443);
              t.insert(e);
              model.set(key, e);
            } else if (!ins && model.has(key)) {
              t.remove(model.get(key)!);
              model.delete(key);
            }
            expect(t.size).toBe(model.size);
            const found = t.find(local, 1000 + port, remote, 443);
            expect(found).toBe(model.get(key) ?? null);
          }
          for (const e of model.values())
            expect(t.find(e.local, e.localPort, e.remote, e.remotePort)).toBe(e);
          expect(new Set(t.values())).toEqual(new Set(model.values()));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('never confuses an IPv4 flow with the IPv4-mapped IPv6 flow', () => {
    const t = new FlowTable<Entry>(1);
    const e = new Entry(IpAddr.v4(1), 1, IpAddr.v4(2), 2);
    t.insert(e);
    const mapped = new IpAddr(6, 0, 0, 0xffff, 1);
    expect(t.find(mapped, 1, new IpAddr(6, 0, 0, 0xffff, 2), 2)).toBeNull();
  });
});
