/**
 * The engine on the shared binds: BindLink over @corridor/tun/bind's MemoryBind (lossy, reordering,
 * poisoning received views after each handler call) against a ResponderTunnel on another MemoryBind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateX25519KeyPair, InitiatorTunnel, ResponderTunnel } from '@corridor/protocol';
import { exampleTunnelParams } from '@corridor/protocol/testing';
import { createMemoryNetwork, type MemoryBind } from '@corridor/tun/bind';
import { buildIpv4Udp, createMemoryTunPair, parseIpv4Udp } from '@corridor/tun/testing';
import { BindLink } from '../../src/connection/bind-link.js';
import { ConnectionEngine } from '../../src/connection/engine.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

function echoNode(bind: MemoryBind) {
  const keys = generateX25519KeyPair();
  const responder = new ResponderTunnel({
    staticKeys: keys,
    authorize: () => ({ ok: true, params: exampleTunnelParams() }),
  });
  const out = Buffer.alloc(4096);
  bind.onReceive((batch) => {
    for (let i = 0; i < batch.count; i++) {
      const from = batch.endpoint(i);
      const r = responder.decapsulate(batch.datagram(i), { ip: from.address, port: from.port }, out);
      if (r.type === 'writeToNetwork') bind.sendTo(r.data, from);
      if (r.type === 'writeToTun') {
        const u = parseIpv4Udp(r.data);
        if (!u) continue;
        const reply = buildIpv4Udp({
          src: u.ip.dst,
          dst: u.ip.src,
          srcPort: u.dstPort,
          dstPort: u.srcPort,
          payload: u.payload,
        });
        const e = responder.encapsulate(r.peer, reply, out);
        if (e.type === 'writeToNetwork') bind.sendTo(e.data, from);
      }
    }
  });
  return { keys, responder };
}

describe('engine over BindLink (MemoryBind)', () => {
  it('handshakes and echoes through a lossy, reordering network without keeping views', async () => {
    const net = createMemoryNetwork({ loss: 0.05, reorder: 0.1, duplicate: 0.02, seed: 42 });
    const nodeBind = net.bind('203.0.113.5', 51820);
    const node = echoNode(nodeBind);
    // A stranger on the network sends garbage to the client's port: filtered by source.
    const stranger = net.bind('198.51.100.66', 9999);
    const [mine, user] = createMemoryTunPair();
    let clientBind: MemoryBind | undefined;
    const engine = new ConnectionEngine(
      {
        tun: mine,
        tunnel: new InitiatorTunnel({
          staticKeys: generateX25519KeyPair(),
          nodeStaticPublicKey: node.keys.publicKey,
          ticket: Buffer.from('t'),
        }),
        openLink: async () => {
          clientBind = net.bind('198.18.0.2', 0);
          return new BindLink(clientBind, net.endpoint('203.0.113.5', 51820), 'udp');
        },
        renewTicket: async () => ({ ticket: Buffer.from('t'), expiresAtMs: Date.now() + 3_600_000 }),
      },
      { transport: 'udp', ticketExpiresAtMs: Date.now() + 3_600_000 },
    );
    cleanup.push(() => engine.close());
    await engine.start();
    const got = new Set<string>();
    user.onPackets((b) => {
      for (let i = 0; i < b.count; i++) {
        const u = parseIpv4Udp(b.packet(i));
        if (u) got.add(Buffer.from(u.payload).toString());
      }
    });
    stranger.sendTo(
      Buffer.from('\x04\x00\x00\x00garbage-garbage-garbage-garbage'),
      net.endpoint('198.18.0.2', clientBind!.localPort),
    );
    for (let i = 0; i < 300; i++) {
      user.write(
        buildIpv4Udp({
          src: '10.8.0.12',
          dst: '198.51.100.80',
          srcPort: 5000,
          dstPort: 7,
          payload: Buffer.from(`m${i}`),
        }),
      );
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 200));
    // ~10% round-trip loss: most arrive, each at most once (duplicates are replays, dropped).
    expect(got.size).toBeGreaterThan(200);
    expect(engine.tunnel.drops.decryptFailed).toBe(0);
    expect(engine.drops.notFromNode).toBe(1);
    expect(engine.counters.rxPackets).toBe(got.size);
  });
});
