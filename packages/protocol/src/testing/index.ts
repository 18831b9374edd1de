/**
 * Test helpers for code built on the protocol (node agent, client): example tunnel parameters and an
 * in-memory, fully handshaken initiator/responder pair. Not for production paths: the pair's
 * responder accepts any ticket it is given.
 */
import type { TunnelParams } from '../handshake/payload.js';
import { generateX25519KeyPair, type X25519KeyPair } from '../keys.js';
import { InitiatorTunnel, ResponderTunnel, type ResponderPeer } from '../tunnel.js';

/** Node-style parameters for one client: 10.8.0.12/24 behind gateway 10.8.0.1, MTU 1420. */
export function exampleTunnelParams(overrides: Partial<TunnelParams> = {}): TunnelParams {
  return {
    clientIPv4: '10.8.0.12',
    clientIPv4Prefix: 24,
    gatewayIPv4: '10.8.0.1',
    clientIPv6: null,
    clientIPv6Prefix: 0,
    mtu: 1420,
    dnsServers: ['10.8.0.1'],
    keepaliveSeconds: 0,
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
