// The sodium-native fallback of the transport AEAD, selected as on a machine where the addon is not
// built (CORRIDOR_AEAD=sodium takes the same branch of loadNative): the module reports 'sodium', its
// output is byte-identical to the default backend's, and a whole tunnel whose client runs on the
// fallback talks to a node on the default backend (both batch paths, both directions).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AEAD_BACKEND, aeadOpen, aeadSeal } from './aead.js';
import { ResponderTunnel } from '../tunnel.js';
import { exampleTunnelParams, ipv4Packet } from '../testing/index.js';
import { generateX25519KeyPair } from '../keys.js';

async function withSodiumBackend() {
  vi.resetModules();
  vi.stubEnv('CORRIDOR_AEAD', 'sodium');
  try {
    return {
      aead: await import('./aead.js'),
      tunnel: await import('../tunnel.js'),
    };
  } finally {
    vi.unstubAllEnvs();
  }
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('transport AEAD: the sodium fallback', () => {
  it('is selected without the addon and seals/opens exactly like the default backend', async () => {
    const { aead } = await withSodiumBackend();
    expect(aead.AEAD_BACKEND).toBe('sodium');
    if (process.env.CORRIDOR_AEAD !== 'sodium') expect(AEAD_BACKEND).not.toBe('sodium');
    const key = Buffer.alloc(32, 5);
    const msg = Buffer.from('payload '.repeat(180));
    const a = Buffer.alloc(msg.length + 16 + 7);
    const b = Buffer.alloc(msg.length + 16 + 7);
    expect(aead.aeadSeal(key, 0xfffffffe, 3, msg, 0, msg.length, a, 7)).toBe(msg.length + 16);
    expect(aeadSeal(key, 0xfffffffe, 3, msg, 0, msg.length, b, 7)).toBe(msg.length + 16);
    expect(a.equals(b)).toBe(true);
    const back = Buffer.alloc(msg.length);
    expect(aeadOpen(key, 0xfffffffe, 3, a, 7, msg.length + 16, back, 0)).toBe(msg.length);
    expect(back.equals(msg)).toBe(true);
    a[20] = a[20]! ^ 1;
    expect(aead.aeadOpen(key, 0xfffffffe, 3, a, 7, msg.length + 16, back, 0)).toBe(-1);
  });

  it('a client on the fallback and a node on the default backend carry packets both ways', async () => {
    const { tunnel } = await withSodiumBackend();
    const params = exampleTunnelParams();
    const clock = { now: 1_000_000 };
    const nodeKeys = generateX25519KeyPair();
    const node = new ResponderTunnel({
      staticKeys: nodeKeys,
      authorize: () => ({ ok: true, params }),
      clock: () => clock.now,
    });
    const client = new tunnel.InitiatorTunnel({
      staticKeys: generateX25519KeyPair(),
      nodeStaticPublicKey: nodeKeys.publicKey,
      ticket: Buffer.from('ticket'),
      clock: () => clock.now,
    });
    const source = { ip: '198.18.0.2', port: 40000 };
    const init = client.connect();
    if (init.type !== 'writeToNetwork') throw new Error('no initiation');
    const resp = node.decapsulate(Buffer.from(init.data), source, Buffer.alloc(2048));
    if (resp.type !== 'writeToNetwork' || resp.peer === null) throw new Error('refused');
    const done = client.decapsulate(Buffer.from(resp.data), Buffer.alloc(2048));
    if (done.type !== 'handshakeComplete') throw new Error('no handshake');
    expect(node.decapsulate(Buffer.from(done.data), source, Buffer.alloc(2048)).type).toBe('done');

    // Client -> node: sealInto on the fallback, openDataInto on the default backend.
    const up = ipv4Packet(params.clientIPv4, '198.51.100.80', Buffer.from('up through sodium'));
    const slot = Buffer.alloc(2048);
    const n = client.sealInto(up, 0, up.length, slot);
    expect(n).toBeGreaterThan(up.length);
    const tunSlab = Buffer.alloc(4096);
    expect(node.openDataInto(slot.subarray(0, n), tunSlab, 100)).toBe(up.length);
    expect(tunSlab.subarray(100, 100 + up.length).equals(up)).toBe(true);

    // Node -> client: sealInto on the default backend, openDataInto on the fallback.
    const down = ipv4Packet('198.51.100.80', params.clientIPv4, Buffer.from('down through openssl'));
    const m = node.sealInto(resp.peer, down, 0, down.length, slot);
    expect(m).toBeGreaterThan(down.length);
    expect(client.openDataInto(slot.subarray(0, m), tunSlab, 0)).toBe(down.length);
    expect(tunSlab.subarray(0, down.length).equals(down)).toBe(true);
    // A flipped bit is refused by the fallback too.
    const forged = Buffer.from(slot.subarray(0, node.sealInto(resp.peer, down, 0, down.length, slot)));
    forged[forged.length - 3] = forged[forged.length - 3]! ^ 0x10;
    expect(client.openDataInto(forged, tunSlab, 0)).toBe(-1);
    expect(client.lastDrop).toBe('decryptFailed');
  });
});
