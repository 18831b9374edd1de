// Deterministic simulation (no root, no real time): two stacks over a seeded link with loss,
// reordering, duplication and delay. Bulk transfers must deliver exactly the bytes sent.
import { describe, expect, it } from 'vitest';
import type { TcpConfig } from './tcp/config.js';
import type { Tcb } from './tcp/tcb.js';
import { acceptAll, BulkReceiver, BulkSender } from './testing/engine-apps.js';
import { SimNetwork, type LinkOptions } from './testing/sim.js';

interface BulkOptions {
  seed: number;
  link: LinkOptions;
  bytes: number;
  tcp?: Partial<TcpConfig>;
  family?: 4 | 6;
  bothWays?: boolean;
  untilMs?: number;
}

function bulk(o: BulkOptions) {
  const net = new SimNetwork(o.seed);
  const [aAddr, bAddr] = o.family === 6 ? ['fd00::1', 'fd00::2'] : ['10.0.0.1', '10.0.0.2'];
  const a = net.addNode('a', { addresses: [aAddr], tcp: o.tcp }, o.link);
  const b = net.addNode('b', { addresses: [bAddr], tcp: o.tcp }, o.link);
  const l = b.stack.tcpListen({ port: 80 });
  let rx: BulkReceiver | undefined;
  let rtx: BulkSender | undefined;
  acceptAll(l, (t: Tcb) => {
    rx = new BulkReceiver(t, o.seed, !o.bothWays);
    if (o.bothWays) {
      const r = rx;
      const w = new BulkSender(t, o.bytes, o.seed + 1);
      rtx = w;
      // The receiver first: the sender discards whatever is left readable.
      t.handler = { onTcpEvents: (c, ev) => (r.onTcpEvents(c, ev), w.onTcpEvents(c, ev)) };
    }
  });
  const conn = a.stack.tcpConnect({ host: bAddr, port: 80 });
  const tx = new BulkSender(conn, o.bytes, o.seed, true);
  let back: BulkReceiver | undefined;
  if (o.bothWays) {
    // The client also receives the server's stream (its own handler wraps both roles).
    back = new BulkReceiver(conn, o.seed + 1, false);
    conn.handler = {
      onTcpEvents(t, ev) {
        back!.onTcpEvents(t, ev);
        tx.onTcpEvents(t, ev);
      },
    };
  }
  const done = (): boolean =>
    (rx?.received ?? 0) === o.bytes &&
    (!o.bothWays || ((back?.received ?? 0) === o.bytes && (rx?.eof ?? false) && back!.eof));
  const ok = net.runSync(done, o.untilMs ?? 7_200_000);
  return { ok, net, a, b, tx, rx, back, rtx };
}

const LOSSY: LinkOptions = {
  delayMs: 10,
  jitterMs: 0.5,
  duplicate: 0.01,
  reorder: 0.02,
  reorderMs: 3,
  bytesPerMs: 5000,
};

describe('simulation: bulk transfer over a lossy link, exact bytes', () => {
  for (const loss of [0, 0.01, 0.05, 0.1, 0.2, 0.3]) {
    for (const sack of [true, false]) {
      const bytes = loss >= 0.2 ? 150_000 : 400_000;
      it(`${loss * 100} % loss, SACK ${sack ? 'on' : 'off'} (${bytes} bytes, reorder + duplicates + jitter)`, () => {
        const r = bulk({ seed: 1000 + loss * 100, link: { ...LOSSY, loss }, bytes, tcp: { sack } });
        expect(r.ok).toBe(true);
        expect(r.rx!.received).toBe(bytes);
        expect(r.rx!.mismatches).toBe(0);
        expect(r.tx.error).toBeNull();
        if (loss === 0) expect(r.a.stack.stats().tcp.rtoTimeouts).toBe(0);
        if (loss > 0) expect(r.a.stack.stats().tcp.retransmits).toBeGreaterThan(0);
      });
    }
  }

  it('NewReno and CUBIC both complete at 10 % loss', () => {
    for (const congestionControl of ['newreno', 'cubic'] as const) {
      const r = bulk({ seed: 77, link: { ...LOSSY, loss: 0.1 }, bytes: 300_000, tcp: { congestionControl } });
      expect(r.ok).toBe(true);
      expect(r.rx!.mismatches).toBe(0);
    }
  });

  it('both directions at once at 10 % loss, IPv6', () => {
    const r = bulk({ seed: 5, link: { ...LOSSY, loss: 0.1 }, bytes: 200_000, family: 6, bothWays: true });
    expect(r.ok).toBe(true);
    expect(r.rx!.mismatches).toBe(0);
    expect(r.back!.mismatches).toBe(0);
    expect(r.back!.received).toBe(200_000);
  });

  it('without timestamps or window scaling (small windows), at 5 % loss', () => {
    const r = bulk({
      seed: 9,
      link: { ...LOSSY, loss: 0.05 },
      bytes: 200_000,
      tcp: { timestamps: false, windowScaling: false, recvBufferSize: 16384 },
    });
    expect(r.ok).toBe(true);
    expect(r.rx!.mismatches).toBe(0);
  });

  it('is deterministic: the same seed gives the same run', () => {
    const x = bulk({ seed: 3, link: { ...LOSSY, loss: 0.1 }, bytes: 100_000 });
    const y = bulk({ seed: 3, link: { ...LOSSY, loss: 0.1 }, bytes: 100_000 });
    expect(x.net.clock.now).toBe(y.net.clock.now);
    expect(x.a.stack.stats().tcp).toEqual(y.a.stack.stats().tcp);
  });

  it('fills a slow bottleneck link and recovers from its drop-tail queue', () => {
    const r = bulk({ seed: 11, link: { delayMs: 20, bytesPerMs: 1250, queueLimit: 30 }, bytes: 2_000_000 });
    expect(r.ok).toBe(true);
    expect(r.rx!.mismatches).toBe(0);
    // 10 Mbit/s link: at least half of it used on average (slow start and losses included).
    const mbit = (2_000_000 * 8) / (r.net.clock.now / 1000) / 1e6;
    expect(mbit).toBeGreaterThan(5);
  });
});

describe('simulation: many connections', () => {
  it('50 concurrent transfers at 5 % loss all complete exactly', () => {
    const net = new SimNetwork(21);
    const a = net.addNode('a', { addresses: ['10.0.0.1'] }, { ...LOSSY, loss: 0.05 });
    const b = net.addNode('b', { addresses: ['10.0.0.2'] }, { ...LOSSY, loss: 0.05 });
    const rxs: BulkReceiver[] = [];
    acceptAll(b.stack.tcpListen({ port: 80 }), (t) => rxs.push(new BulkReceiver(t, t.remotePort)));
    const txs: BulkSender[] = [];
    for (let i = 0; i < 50; i++) {
      const c = a.stack.tcpConnect({ host: '10.0.0.2', port: 80 });
      txs.push(new BulkSender(c, 30_000, c.localPort));
    }
    const ok = net.runSync(() => rxs.length === 50 && rxs.every((r) => r.eof), 3_600_000);
    expect(ok).toBe(true);
    expect(rxs.every((r) => r.received === 30_000 && r.mismatches === 0)).toBe(true);
  });
});
