/**
 * The connection engine against a real ResponderTunnel behind fake links (test/helpers/fake-node.ts)
 * and an in-memory TUN pair, on a fake clock: handshake, data both ways, UDP -> TCP fallback,
 * re-ticketing across a ticket expiry, reconnect with backoff, node restarts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateX25519KeyPair, InitiatorTunnel } from '@corridor/protocol';
import { buildIpv4Udp, createMemoryTunPair, parseIpv4Udp, type MemoryTun } from '@corridor/tun/testing';
import {
  ConnectionEngine,
  TICK_MS,
  type EngineOptions,
  type EngineState,
} from '../../src/connection/engine.js';
import { FakeNode, ticketFor } from '../helpers/fake-node.js';

const settle = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

interface Rig {
  engine: ConnectionEngine;
  node: FakeNode;
  clock: { now: number; wall: number };
  user: MemoryTun;
  received: string[];
  states: EngineState[];
  renewals: number[];
  /** Transports the engine reported as working (onTransportWorked). */
  worked: string[];
  /** Advances both clocks by `ms` in TICK_MS steps, ticking the engine and letting I/O run. */
  advance(ms: number): Promise<void>;
  send(text: string): void;
}

const engines: ConnectionEngine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
});

function rig(
  opts: Partial<EngineOptions> & { ttlMs?: number; renewFails?: () => boolean; random?: () => number } = {},
): Rig {
  const clock = { now: 1_000_000, wall: Date.UTC(2026, 0, 1) };
  const node = new FakeNode(clock);
  const [mine, user] = createMemoryTunPair({ names: ['corridor0', 'user0'] });
  const ttl = opts.ttlMs ?? 3_600_000;
  const tunnel = new InitiatorTunnel({
    staticKeys: generateX25519KeyPair(),
    nodeStaticPublicKey: node.keys.publicKey,
    ticket: ticketFor(clock.wall + ttl),
    clock: () => clock.now,
    wallClock: () => clock.wall,
  });
  const states: EngineState[] = [];
  const renewals: number[] = [];
  const worked: string[] = [];
  const engine = new ConnectionEngine(
    {
      tun: mine,
      tunnel,
      openLink: (t) => node.openLink(t),
      renewTicket: async () => {
        if (opts.renewFails?.()) throw new Error('controller unreachable');
        renewals.push(clock.wall);
        return { ticket: ticketFor(clock.wall + ttl), expiresAtMs: clock.wall + ttl };
      },
      onState: (s) => states.push(s),
      onTransportWorked: (t) => worked.push(t),
      clock: () => clock.now,
      wallClock: () => clock.wall,
      random: opts.random ?? (() => 0.5),
    },
    { transport: 'auto', ticketExpiresAtMs: clock.wall + ttl, ...opts },
  );
  engines.push(engine);
  const received: string[] = [];
  user.onPackets((b) => {
    for (let i = 0; i < b.count; i++) {
      const u = parseIpv4Udp(b.packet(i));
      if (u) received.push(Buffer.from(u.payload).toString());
    }
  });
  return {
    engine,
    node,
    clock,
    user,
    received,
    states,
    renewals,
    worked,
    async advance(ms) {
      for (let t = 0; t < ms; t += TICK_MS) {
        clock.now += TICK_MS;
        clock.wall += TICK_MS;
        engine.tick(clock.now);
        await settle(3);
      }
    },
    send(text) {
      user.write(
        buildIpv4Udp({
          src: '10.8.0.12',
          dst: '198.51.100.80',
          srcPort: 5000,
          dstPort: 7,
          payload: Buffer.from(text),
        }),
      );
    },
  };
}

async function connected(r: Rig): Promise<void> {
  const p = r.engine.start(false);
  await settle(10);
  await r.advance(500);
  await p;
}

describe('ConnectionEngine', () => {
  it('handshakes over UDP and carries packets both ways', async () => {
    const r = rig();
    const p = r.engine.start(false);
    await settle(10);
    const params = await p;
    expect(params.clientIPv4).toBe('10.8.0.12');
    expect(r.engine.state).toBe('connected');
    expect(r.engine.transport).toBe('udp');
    for (const m of ['one', 'two', 'three']) r.send(m);
    await settle(20);
    expect(r.received).toEqual(['one', 'two', 'three']);
    expect(r.engine.counters.txPackets).toBe(3);
    expect(r.engine.counters.rxPackets).toBe(3);
    expect(r.engine.tunnel.drops.decryptFailed + r.engine.tunnel.drops.replay).toBe(0);
  });

  it('auto: UDP blocked -> falls back to TCP within the fallback time', async () => {
    const r = rig({ udpFallbackMs: 3_000 });
    r.node.blocked.add('udp');
    const p = r.engine.start(false);
    await settle(10);
    await r.advance(2_750);
    expect(r.engine.state).toBe('connecting');
    await r.advance(500);
    await p;
    expect(r.engine.transport).toBe('tcp');
    expect(r.node.initiations.map((i) => i.transport)).toContain('tcp');
    r.send('over tcp');
    await settle(20);
    expect(r.received).toEqual(['over tcp']);
  });

  it('udp only: UDP blocked -> the first connect fails with a hint to try TCP', async () => {
    const r = rig({ transport: 'udp', handshakeTimeoutMs: 5_000 });
    r.node.blocked.add('udp');
    const p = r.engine.start(false);
    const caught = p.catch((e: unknown) => e);
    await settle(10);
    await r.advance(5_500);
    const err = (await caught) as { code: string; message: string; hint: string };
    expect(err.code).toBe('CORRIDOR_ERR_NODE_UNREACHABLE');
    expect(err.message).toContain('UDP: no answer in 5 s');
    expect(err.hint).toContain('--transport tcp');
    // It resent the initiation while waiting (UDP loses packets).
    expect(r.engine.tunnel.drops.capacity).toBe(0);
  });

  it('a refused TCP connect and a blocked UDP are both named in the error', async () => {
    const r = rig({ udpFallbackMs: 1_000 });
    r.node.blocked.add('udp');
    r.node.refuse.add('tcp');
    const caught = r.engine.start(false).catch((e: unknown) => e);
    await settle(10);
    await r.advance(1_500);
    const err = (await caught) as Error;
    expect(err.message).toMatch(/UDP: no answer in 1 s; TCP: connect ECONNREFUSED/);
  });

  it('re-tickets before expiry: a transfer keeps running across the old ticket expiry', async () => {
    const ttl = 60_000;
    const r = rig({ ttlMs: ttl });
    await connected(r);
    const firstExpiry = r.clock.wall - 500 + ttl;
    let sent = 0;
    // 150 s of traffic, one packet per 250 ms tick: past the first and second expiry.
    for (let t = 0; t < 150_000; t += TICK_MS) {
      r.send(`p${sent++}`);
      await r.advance(TICK_MS);
    }
    await settle(20);
    expect(r.renewals.length).toBeGreaterThanOrEqual(2);
    expect(r.renewals[0]!).toBeLessThan(firstExpiry);
    expect(r.renewals[0]!).toBeGreaterThan(firstExpiry - ttl / 2);
    expect(r.node.droppedExpired).toBe(0);
    expect(r.received.length).toBe(sent);
    expect(r.engine.state).toBe('connected');
    expect(r.engine.reconnects).toBe(0);
    // Every handshake after the first carried a fresh ticket.
    const tickets = new Set(r.node.initiations.map((i) => i.ticket).filter(Boolean));
    expect(tickets.size).toBeGreaterThanOrEqual(3);
  });

  it('without a fresh ticket the session dies at expiry; the engine keeps retrying and recovers', async () => {
    const ttl = 60_000;
    let controllerDown = true;
    const r = rig({ ttlMs: ttl, renewFails: () => controllerDown, handshakeTimeoutMs: 5_000 });
    await connected(r);
    await r.advance(ttl + 20_000);
    r.send('after expiry');
    await r.advance(1_000);
    expect(r.received).not.toContain('after expiry');
    expect(r.engine.lastError).toContain('cannot get a new ticket');
    controllerDown = false;
    await r.advance(60_000);
    expect(r.engine.state).toBe('connected');
    r.send('recovered');
    await settle(20);
    expect(r.received).toContain('recovered');
  });

  it('node away late in the ticket life, controller only reachable through the tunnel: reconnects on the still-valid ticket, then re-tickets', async () => {
    // Full tunnel: the controller's address is routed into the TUN, so while the tunnel is down no
    // new ticket can be had. The ticket in hand is still valid: it must be used to get back up.
    const ttl = 60_000;
    const ref: { engine?: ConnectionEngine } = {};
    const r = rig({
      ttlMs: ttl,
      transport: 'tcp',
      backoffBaseMs: 1_000,
      renewFails: () => ref.engine?.state !== 'connected',
    });
    ref.engine = r.engine;
    await connected(r);
    await r.advance(30_000); // half the ticket life left: not yet due
    expect(r.renewals).toEqual([]);
    r.node.refuse.add('tcp');
    r.node.links.at(-1)!.takeDown('connection reset');
    await r.advance(15_000); // now 15 s left: due for a new ticket, none to be had
    expect(r.engine.state).toBe('reconnecting');
    r.node.refuse.delete('tcp');
    await r.advance(5_000);
    expect(r.engine.state).toBe('connected');
    expect(r.renewals.length).toBe(1); // re-ticketed through the tunnel once it was up
    await r.advance(30_000); // past the first ticket's expiry
    r.send('still here');
    await settle(20);
    expect(r.received).toContain('still here');
    expect(r.engine.state).toBe('connected');
    expect(r.node.droppedExpired).toBe(0);
  });

  it('TCP link lost -> reconnects after a jittered backoff that grows while the node stays away', async () => {
    const r = rig({ transport: 'tcp', backoffBaseMs: 1_000, random: () => 1 });
    await connected(r);
    r.node.refuse.add('tcp');
    r.node.links.at(-1)!.takeDown('connection reset');
    await settle(10);
    expect(r.engine.state).toBe('reconnecting');
    expect(r.engine.lastError).toContain('connection reset');
    const attempts = () => r.states.filter((s) => s === 'reconnecting').length;
    await r.advance(1_000); // first retry after 1 s (random=1 -> the full cap)
    await settle(10);
    expect(attempts()).toBe(2);
    await r.advance(1_000);
    expect(attempts()).toBe(2); // second wait is 2 s
    await r.advance(1_250);
    expect(attempts()).toBe(3);
    r.node.refuse.delete('tcp');
    await r.advance(4_500);
    expect(r.engine.state).toBe('connected');
    r.send('back');
    await settle(20);
    expect(r.received).toEqual(['back']);
    expect(r.engine.reconnects).toBeGreaterThanOrEqual(3);
  });

  it('node stops answering (e.g. restarted and lost the session) -> re-handshake times out -> reconnect', async () => {
    const r = rig({ handshakeTimeoutMs: 6_000 });
    await connected(r);
    r.node.paused = true;
    for (let i = 0; i < 25; i++) {
      r.send(`lost${i}`);
      await r.advance(1_000);
    }
    // Dead-peer rule: 15 s without an answer -> handshake; no answer in 6 s -> reconnect.
    expect(r.engine.state).toBe('reconnecting');
    expect(r.engine.lastError).toBe('the node stopped answering');
    r.node.paused = false;
    await r.advance(40_000);
    expect(r.engine.state).toBe('connected');
    r.send('again');
    await settle(20);
    expect(r.received).toContain('again');
  });

  it('drops UDP messages that did not come from the node, counted', async () => {
    const r = rig();
    await connected(r);
    r.node.links.at(-1)!.deliver([undefined, undefined]);
    expect(r.engine.drops.notFromNode).toBe(2);
  });

  it('while reconnecting, TUN packets are dropped (counted), never sent in clear', async () => {
    const r = rig({ transport: 'tcp' });
    await connected(r);
    r.node.refuse.add('tcp');
    r.node.links.at(-1)!.takeDown('reset');
    await settle(5);
    r.send('nowhere');
    await settle(10);
    expect(r.engine.drops.noLink).toBe(1);
  });
});

describe('ConnectionEngine: auto over udp, tcp, tls, wss', () => {
  it('walks the given order past blocked and refused transports to wss, and reports what worked', async () => {
    const r = rig({
      udpFallbackMs: 1_000,
      handshakeTimeoutMs: 2_000,
      autoOrder: ['udp', 'tcp', 'tls', 'wss'],
    });
    r.node.blocked.add('udp');
    r.node.refuse.add('tcp');
    r.node.blocked.add('tls');
    const p = r.engine.start(false);
    await settle(10);
    await r.advance(4_000);
    await p;
    expect(r.engine.transport).toBe('wss');
    expect(r.worked).toEqual(['wss']);
    r.send('over wss');
    await settle(20);
    expect(r.received).toEqual(['over wss']);
  });

  it('starts with the remembered transport when the supervisor puts it first', async () => {
    const r = rig({ autoOrder: ['tls', 'udp', 'tcp', 'wss'] });
    await connected(r);
    expect(r.engine.transport).toBe('tls');
    expect(r.node.initiations.map((i) => i.transport)).toEqual(['tls']);
    expect(r.worked).toEqual(['tls']);
  });
});
