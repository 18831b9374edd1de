/**
 * Test helpers for code built on the protocol (node agent, client): example tunnel parameters and an
 * in-memory, fully handshaken initiator/responder pair. Not for production paths: the pair's
 * responder accepts any ticket it is given.
 */
import { parseIPv4, parseIPv6 } from '../handshake/ip.js';
import type { TunnelParams } from '../handshake/payload.js';
import { generateX25519KeyPair, type X25519KeyPair } from '../keys.js';
import { InitiatorTunnel, ResponderTunnel, type ResponderPeer } from '../tunnel.js';

/**
 * Node-style parameters for one client: 10.8.0.12/24 behind gateway 10.8.0.1, MTU 1420, persistent
 * keepalive 25 s.
 */
export function exampleTunnelParams(overrides: Partial<TunnelParams> = {}): TunnelParams {
  return {
    clientIPv4: '10.8.0.12',
    clientIPv4Prefix: 24,
    gatewayIPv4: '10.8.0.1',
    clientIPv6: null,
    clientIPv6Prefix: 0,
    mtu: 1420,
    dnsServers: ['10.8.0.1'],
    keepaliveSeconds: 25,
    bandwidthBytesPerSecond: 0,
    dataQuotaBytes: 0,
    ...overrides,
  };
}

export interface TunnelPair {
  readonly client: InitiatorTunnel;
  readonly node: ResponderTunnel;
  /** The node's view of the client after the handshake. */
  readonly peer: ResponderPeer;
  readonly clientKeys: X25519KeyPair;
  readonly nodeKeys: X25519KeyPair;
  /** Shared injected clock (ms); advance it and call `updateTimers`. */
  readonly clock: { now: number };
  /** Source address the node sees for the client. */
  readonly source: { readonly ip: string; readonly port: number };
}

/**
 * Runs initiation → response → confirming keepalive between two in-memory tunnels and returns them
 * established. Throws (test setup only) if any step does not produce what the protocol requires.
 * The node passes only inner packets from the client's assigned address (build them with
 * `ipv4Packet(params.clientIPv4, …)`); anything else is dropped as 'spoofedSource' or 'notIP'.
 */
export function establishTunnelPair(
  options: { params?: TunnelParams; ticket?: Uint8Array } = {},
): TunnelPair {
  const clock = { now: 1_000_000 };
  const clientKeys = generateX25519KeyPair();
  const nodeKeys = generateX25519KeyPair();
  const params = options.params ?? exampleTunnelParams();
  const node = new ResponderTunnel({
    staticKeys: nodeKeys,
    authorize: () => ({ ok: true, params }),
    clock: () => clock.now,
  });
  const client = new InitiatorTunnel({
    staticKeys: clientKeys,
    nodeStaticPublicKey: nodeKeys.publicKey,
    ticket: options.ticket ?? Buffer.from('test-ticket'),
    clock: () => clock.now,
  });
  const source = { ip: '198.18.0.2', port: 40000 };
  const out = Buffer.alloc(2048);

  const init = client.connect();
  if (init.type !== 'writeToNetwork') throw new Error(`initiation failed: ${JSON.stringify(init)}`);
  const response = node.decapsulate(Buffer.from(init.data), source, out);
  if (response.type !== 'writeToNetwork' || response.peer === null) {
    throw new Error(`node refused the initiation: ${JSON.stringify(response)}`);
  }
  const peer = response.peer;
  const done = client.decapsulate(Buffer.from(response.data), Buffer.alloc(2048));
  if (done.type !== 'handshakeComplete') throw new Error(`handshake incomplete: ${JSON.stringify(done)}`);
  const confirm = node.decapsulate(Buffer.from(done.data), source, out);
  if (confirm.type !== 'done' || confirm.peer !== peer) {
    throw new Error(`node did not confirm the session: ${JSON.stringify(confirm)}`);
  }
  return { client, node, peer, clientKeys, nodeKeys, clock, source };
}

/** Internet checksum (RFC 1071) of `data`. */
function checksum16(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < data.length; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (data.length % 2 === 1) sum += data[data.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * A minimal IPv4 packet (20-byte header with checksum, protocol 253 = experimentation, then
 * `payload`) from `src` to `dst`: the kind of inner packet a client's TUN produces. Fresh buffer.
 * Throws a RangeError (test setup only) for malformed addresses.
 */
export function ipv4Packet(src: string, dst: string, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const s = parseIPv4(src);
  const d = parseIPv4(dst);
  if (s === null || d === null) throw new RangeError(`not IPv4 addresses: ${src} -> ${dst}`);
  const p = Buffer.alloc(20 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = 253;
  p.set(s, 12);
  p.set(d, 16);
  p.writeUInt16BE(checksum16(p.subarray(0, 20)), 10);
  p.set(payload, 20);
  return p;
}

/** A minimal IPv6 packet (40-byte header, next header 253, then `payload`). Fresh buffer. */
export function ipv6Packet(src: string, dst: string, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const s = parseIPv6(src);
  const d = parseIPv6(dst);
  if (s === null || d === null) throw new RangeError(`not IPv6 addresses: ${src} -> ${dst}`);
  const p = Buffer.alloc(40 + payload.length);
  p[0] = 0x60;
  p.writeUInt16BE(payload.length, 4);
  p[6] = 253;
  p[7] = 64;
  p.set(s, 8);
  p.set(d, 24);
  p.set(payload, 40);
  return p;
}
