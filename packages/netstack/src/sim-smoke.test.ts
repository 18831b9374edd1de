import { describe, expect, it } from 'vitest';
import { SimNetwork, type LinkOptions } from './testing/sim.js';
import { acceptAll, BulkReceiver, BulkSender } from './testing/engine-apps.js';
import type { Tcb } from './tcp/tcb.js';

function bulk(seed: number, link: LinkOptions, total: number, tcp: object = {}) {
  const net = new SimNetwork(seed);
  const a = net.addNode('a', { addresses: ['10.0.0.1'], tcp }, link);
  const b = net.addNode('b', { addresses: ['10.0.0.2'], tcp }, link);
  const l = b.stack.tcpListen({ port: 80 });
  let rx: BulkReceiver | undefined;
  acceptAll(l, (t: Tcb) => (rx = new BulkReceiver(t, seed)));
  const tx = new BulkSender(a.stack.tcpConnect({ host: '10.0.0.2', port: 80 }), total, seed);
  const ok = net.runSync(() => tx.closed && (rx?.closed ?? false), 3_600_000);
  return { ok, net, a, b, tx, rx };
}

describe('smoke', () => {
  for (const loss of [0, 0.01, 0.05, 0.1, 0.2, 0.3]) {
    for (const sack of [true, false]) {
      it(`loss ${loss} sack ${sack}`, () => {
        const r = bulk(
          42,
          { loss, delayMs: 10, jitterMs: 2, bytesPerMs: 10000, duplicate: 0.01, reorder: 0.01 },
          300_000,
          { sack },
        );
        const s = r.a.stack.stats().tcp;
        console.log(
          loss,
          sack,
          r.ok,
          r.net.clock.now.toFixed(0),
          r.rx?.received,
          r.rx?.mismatches,
          'rtx',
          s.retransmits,
          'fast',
          s.fastRetransmits,
          'rto',
          s.rtoTimeouts,
          'out',
          s.segmentsOut,
          r.tx.error,
          r.rx?.error,
          r.a.stack.connections().map((t) => t.stateName),
          r.b.stack.connections().map((t) => t.stateName),
        );
        expect(r.ok).toBe(true);
        expect(r.rx?.received).toBe(300_000);
        expect(r.rx?.mismatches).toBe(0);
      });
    }
  }
});
