// Attacks on the node engine (review of issue 9), in memory with the real protocol: quota bypass by
// reconnecting with the same ticket, replayed data packets from another address (roaming hijack).
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  formatPublicKey,
  generateEd25519KeyPair,
  generateX25519KeyPair,
  signTicket,
  type Ed25519KeyPair,
  type X25519KeyPair,
} from '@corridor/protocol';
import { createMemoryTunPair, icmpEchoReply, type MemoryTun } from '@corridor/tun/testing';
import { createMemoryNetwork, TcpClientBind, TcpServerBind, type MemoryNetwork } from '@corridor/tun/bind';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Engine } from '../../src/tunnel/engine.js';
import { TrustStore } from '../../src/control/trust.js';
import { ControlSync } from '../../src/control/sync.js';
import type { ControllerClient } from '../../src/control/controller-client.js';
import { silentLogger } from '../../src/log.js';
import { TestClient, icmpEcho } from '../support/client.js';

const NODE_ID = 'mem-1';
const NODE_ADDR = '198.18.0.1';

interface Harness {
  engine: Engine;
  kernel: MemoryTun;
  network: MemoryNetwork;
  nodeKeys: X25519KeyPair;
  signer: Ed25519KeyPair;
  wall: { now: number };
  trust: TrustStore;
  clients: TestClient[];
}

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    for (const c of h.clients) c.close();
    h.engine.close();
    await h.kernel.close();
  }
});

function harness(): Harness {
  const network = createMemoryNetwork();
  const bind = network.bind(NODE_ADDR, 51820);
  const [nodeTun, kernel] = createMemoryTunPair();
  const signer = generateEd25519KeyPair();
  const trust = new TrustStore(null);
  trust.setKeys(
    [
      {
        keyId: 7,
        publicKey: formatPublicKey('ed25519pub', signer.publicKey),
        notBefore: new Date(Date.now() - 86_400_000).toISOString(),
        notAfter: new Date(Date.now() + 86_400_000).toISOString(),
      },
    ],
    1,
  );
  const wall = { now: Date.now() };
  const nodeKeys = generateX25519KeyPair();
  const engine = new Engine({
    nodeId: NODE_ID,
    staticKeys: nodeKeys,
    tun: nodeTun,
    binds: [bind],
    trust,
    subnet4: { network: '10.8.0.0', prefix: 24, gateway: '10.8.0.1' },
    subnet6: { network: 'fd00:8::', prefix: 64, gateway: 'fd00:8::1' },
    mtu: 1420,
    dnsServers: [],
    keepaliveSeconds: 25,
    isolation: true,
    maxSessions: 100,
    wallClock: () => wall.now,
  });
  kernel.onPackets((batch) => {
    for (let i = 0; i < batch.count; i++) {
      const reply = icmpEchoReply(batch.packet(i));
      if (reply) kernel.write(reply);
    }
  });
  const h = { engine, kernel, network, nodeKeys, signer, wall, trust, clients: [] };
  harnesses.push(h);
  return h;
}

function ticket(
  h: Harness,
  keys: X25519KeyPair,
  quota = 0,
  lifetimeS = 3600,
  signWith: { keyId: number; privateKey: Ed25519KeyPair['privateKey'] } | null = null,
): Buffer {
  const now = Math.floor(h.wall.now / 1000);
  return signTicket(
    {
      ticketId: randomUUID(),
      userId: randomUUID(),
      deviceId: randomUUID(),
      nodeId: NODE_ID,
      clientPublicKey: keys.publicKey,
      issuedAt: now - 10,
      expiresAt: now + lifetimeS,
      limits: { bandwidthBytesPerSec: 0, dataQuotaBytes: quota },
    },
    signWith ?? { keyId: 7, privateKey: h.signer.privateKey },
  );
}

function client(h: Harness, keys: X25519KeyPair, t: Buffer, address: string): TestClient {
  const c = new TestClient({
    tun: null,
    bind: h.network.bind(address),
    node: h.network.endpoint(NODE_ADDR, 51820),
    nodeKey: h.nodeKeys.publicKey,
    keys,
    ticket: t,
  });
  h.clients.push(c);
  return c;
}

const settle = (ms = 30) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await settle(10);
  }
}

describe('node engine under attack (in memory, real protocol)', () => {
  it('a ticket quota holds across reconnects with the same ticket', async () => {
    const h = harness();
    const keys = generateX25519KeyPair();
    const t = ticket(h, keys, 1000);
    const first = client(h, keys, t, '198.18.1.2');
    const p = await first.connect();
    for (let i = 0; i < 20; i++) first.sendPacket(icmpEcho(p.clientIPv4, '203.0.113.10', 1, i));
    await waitFor(() => h.engine.drops.quota > 0);
    await waitFor(() => first.received.length > 0);
    h.engine.tick();
    expect(h.engine.takeEnded().map((e) => e.reason)).toEqual(['quotaExceeded']);
    const received = first.received.length;
    expect(received).toBeGreaterThan(0);
    first.close();

    // Same device key, same (still valid) ticket, a new connection: the quota is spent.
    const again = client(h, keys, t, '198.18.1.3');
    await expect(again.connect(500)).rejects.toThrow(/no handshake/);
    expect(h.engine.rejects.quotaExceeded).toBeGreaterThan(0);
    expect(h.engine.sessions.size).toBe(0);
  });

  it('usage carries over when a session with quota left ends and the same ticket reconnects', async () => {
    const h = harness();
    const keys = generateX25519KeyPair();
    const t = ticket(h, keys, 1000);
    const first = client(h, keys, t, '198.18.1.2');
    const p = await first.connect();
    for (let i = 0; i < 5; i++) first.sendPacket(icmpEcho(p.clientIPv4, '203.0.113.10', 1, i));
    await waitFor(() => first.received.length === 5);
    const used = [...h.engine.sessions][0]!.rxBytes + [...h.engine.sessions][0]!.txBytes;
    expect(used).toBeGreaterThan(300);
    h.engine.endSession([...h.engine.sessions][0]!, 'idleTimeout');
    first.close();
    const again = client(h, keys, t, '198.18.1.3');
    const p2 = await again.connect();
    for (let i = 0; i < 20; i++) again.sendPacket(icmpEcho(p2.clientIPv4, '203.0.113.10', 1, i));
    await waitFor(() => h.engine.drops.quota > 0);
    const s = [...h.engine.sessions][0]!;
    // The whole ticket moved at most its quota, over both sessions.
    expect(used + s.rxBytes + s.txBytes).toBeLessThanOrEqual(1000);
    expect(h.engine.drops.quota).toBeGreaterThan(0);
  });

  it('a replayed old data packet from another address does not move the session endpoint', async () => {
    const h = harness();
    const keys = generateX25519KeyPair();
    const c = client(h, keys, ticket(h, keys), '198.18.1.2');
    const p = await c.connect();
    const node = h.network.endpoint(NODE_ADDR, 51820);
    const out = Buffer.alloc(2048);
    const seal = () => {
      const r = c.tunnel.encapsulate(icmpEcho(p.clientIPv4, '203.0.113.10', 1, 1), out);
      if (r.type !== 'writeToNetwork') throw new Error('encapsulate failed');
      return Buffer.from(r.data);
    };
    const captured = seal();
    h.network.bind('198.18.1.2', 40001).sendTo(captured, node); // delivered once, from a 2nd port
    await settle();
    expect([...h.engine.sessions][0]!.endpoint?.key).toBe('198.18.1.2:40001');
    // The client roams to a new address with a newer packet.
    h.network.bind('198.18.1.9').sendTo(seal(), node);
    await settle();
    expect([...h.engine.sessions][0]!.endpoint?.key).toBe('198.18.1.9:40000');
    // The attacker replays the captured (older, already seen) packet from its own address.
    const attacker = h.network.bind('198.18.6.6');
    attacker.sendTo(captured, node);
    await settle();
    expect([...h.engine.sessions][0]!.endpoint?.key).toBe('198.18.1.9:40000');
    expect(h.engine.tunnel.drops.replay).toBe(1);
  });

  it('an expired ticket cannot re-open a session within the verifier’s clock-skew grace', async () => {
    const h = harness();
    const keys = generateX25519KeyPair();
    const t = ticket(h, keys, 0, 60);
    const first = client(h, keys, t, '198.18.1.2');
    await first.connect();
    h.wall.now += 70_000; // 10 s past expiry: inside the 30 s grace the verifier allows for clock skew
    h.engine.tick();
    expect(h.engine.takeEnded().map((e) => e.reason)).toEqual(['ticketExpired']);
    first.close();
    // The holder of the expired ticket reconnects at once with it.
    const again = client(h, keys, t, '198.18.1.3');
    await expect(again.connect(500)).rejects.toThrow(/no handshake/);
    expect(h.engine.rejects.expired).toBe(1);
    expect(h.engine.sessions.size).toBe(0);
  });

  it('a ticket signed with a key the node has not fetched yet is admitted on the next initiation (keys fetched at once)', async () => {
    const h = harness();
    const rotated = generateEd25519KeyPair();
    const window = {
      notBefore: new Date(Date.now() - 60_000).toISOString(),
      notAfter: new Date(Date.now() + 86_400_000).toISOString(),
    };
    let fetches = 0;
    const controller = {
      signingKeys: () => {
        fetches++;
        return Promise.resolve({
          version: 2,
          keys: [
            { keyId: 7, publicKey: formatPublicKey('ed25519pub', h.signer.publicKey), ...window },
            { keyId: 8, publicKey: formatPublicKey('ed25519pub', rotated.publicKey), ...window },
          ],
        });
      },
    };
    // Heartbeats far apart: only the unknown key can make the node fetch keys within this test.
    const sync = new ControlSync(
      controller as unknown as ControllerClient,
      h.trust,
      h.engine,
      { heartbeatSeconds: 300, revocationWaitSeconds: 0, revocationPollSeconds: 60, agentVersion: 'test' },
      silentLogger,
    );
    h.engine.onUnknownSigningKey = () => sync.requestKeyRefresh(); // as agent.ts wires it
    try {
      const keys = generateX25519KeyPair();
      const t = ticket(h, keys, 0, 3600, { keyId: 8, privateKey: rotated.privateKey });
      const c = client(h, keys, t, '198.18.1.2');
      await expect(c.connect(300)).rejects.toThrow(/no handshake/);
      expect(h.engine.rejects.unknownKey).toBeGreaterThanOrEqual(1);
      await waitFor(() => h.trust.signingKey(8) !== undefined);
      const p = await c.connect();
      expect(p.clientIPv4).toBe('10.8.0.2');
      // Strangers naming unknown keys do not make the node fetch again and again.
      const other = generateX25519KeyPair();
      const bogus = client(
        h,
        other,
        ticket(h, other, 0, 3600, { keyId: 99, privateKey: rotated.privateKey }),
        '198.18.1.3',
      );
      await expect(bogus.connect(300)).rejects.toThrow(/no handshake/);
      expect(fetches).toBe(1);
    } finally {
      await sync.stop();
    }
  });

  it('a TCP connection that never authenticates (garbage frames as keepalive) is closed; a client’s stays', async () => {
    const server = await TcpServerBind.listen({ host: '127.0.0.1' });
    const [nodeTun, kernel] = createMemoryTunPair();
    const signer = generateEd25519KeyPair();
    const trust = new TrustStore(null);
    trust.setKeys(
      [
        {
          keyId: 7,
          publicKey: formatPublicKey('ed25519pub', signer.publicKey),
          notBefore: new Date(Date.now() - 60_000).toISOString(),
          notAfter: new Date(Date.now() + 86_400_000).toISOString(),
        },
      ],
      1,
    );
    const nodeKeys = generateX25519KeyPair();
    const engine = new Engine({
      nodeId: NODE_ID,
      staticKeys: nodeKeys,
      tun: nodeTun,
      binds: [server],
      trust,
      subnet4: { network: '10.8.0.0', prefix: 24, gateway: '10.8.0.1' },
      subnet6: null,
      mtu: 1420,
      dnsServers: [],
      keepaliveSeconds: 25,
      isolation: true,
      maxSessions: 100,
      tcpProofTimeoutMs: 300,
    });
    const ticker = setInterval(() => engine.tick(), 50);
    const garbage = net.connect({ host: '127.0.0.1', port: server.localPort });
    let garbageClosed = false;
    garbage.on('close', () => (garbageClosed = true));
    garbage.on('error', () => undefined);
    const frame = () => {
      const body = randomBytes(148);
      body[0] = 1; // looks like an initiation
      const f = Buffer.alloc(2 + body.length);
      f.writeUInt16BE(body.length, 0);
      body.copy(f, 2);
      return f;
    };
    const keepGarbage = setInterval(() => garbage.writable && garbage.write(frame()), 100);
    const keys = generateX25519KeyPair();
    const bind = await TcpClientBind.connect({ host: '127.0.0.1', port: server.localPort });
    const now = Math.floor(Date.now() / 1000);
    const c = new TestClient({
      tun: null,
      bind,
      node: bind.remote,
      nodeKey: nodeKeys.publicKey,
      keys,
      ticket: signTicket(
        {
          ticketId: randomUUID(),
          userId: randomUUID(),
          deviceId: randomUUID(),
          nodeId: NODE_ID,
          clientPublicKey: keys.publicKey,
          issuedAt: now - 10,
          expiresAt: now + 3600,
          limits: { bandwidthBytesPerSec: 0, dataQuotaBytes: 0 },
        },
        { keyId: 7, privateKey: signer.privateKey },
      ),
    });
    try {
      const p = await c.connect();
      await waitFor(() => garbageClosed, 3000);
      await settle(500); // well past the proof timeout
      expect(bind.closed).toBe(false);
      expect(server.connectionCount).toBe(1);
      kernel.onPackets((batch) => {
        for (let i = 0; i < batch.count; i++) {
          const reply = icmpEchoReply(batch.packet(i));
          if (reply) kernel.write(reply);
        }
      });
      c.sendPacket(icmpEcho(p.clientIPv4, '203.0.113.10', 1, 1));
      await waitFor(() => c.received.length === 1);
    } finally {
      clearInterval(keepGarbage);
      clearInterval(ticker);
      garbage.destroy();
      c.close();
      engine.close();
      await bind.close();
      await server.close();
      await kernel.close();
    }
  });
  it('a client whose key moved to another device (device deleted, key registered again) keeps a working tunnel on the new device’s address', async () => {
    const h = harness();
    const keys = generateX25519KeyPair();
    const c = client(h, keys, ticket(h, keys), '198.18.1.2');
    const p1 = await c.connect();
    // The same key, now under another device id: a new ticket, a re-handshake on the live session.
    c.tunnel.setTicket(ticket(h, keys));
    const p2 = await c.connect();
    expect(p2.clientIPv4).not.toBe(p1.clientIPv4);
    c.sendPacket(icmpEcho(p2.clientIPv4, '203.0.113.10', 1, 1));
    await waitFor(() => c.received.length === 1);
    // One session, routed at the new address only; the old address is free again.
    expect(h.engine.sessions.size).toBe(1);
    expect([...h.engine.byV4.keys()]).toEqual([h.engine.pool.key4(3)]);
    expect(h.engine.takeEnded().map((e) => e.reason)).toEqual(['replaced']);
  });
});
