/**
 * The proxy's data side, independent of the controller: the packet device the connection engine
 * drives (netstack-device.ts), the userspace stack of the current tunnel session, the resolver that
 * asks the pushed DNS servers through it, the ProxyCore and the local listeners. ProxySession wires
 * it to a real ConnectionEngine; tests wire it to an engine over fake links.
 *
 * Contract:
 * - `applyParams(params, previous)` is the engine's onParams: the first parameters create the stack
 *   (address(es) and MTU of the session); later ones with the same address and MTU keep it (a
 *   reconnect keeps proxied connections alive when the node gives the address back); another address
 *   replaces it and aborts the old stack's connections. Returns true when the stack was replaced.
 * - `ready` says whether the tunnel carries traffic (the engine is connected); no dial happens
 *   otherwise.
 * - `close()` closes the listeners (client sockets destroyed) and aborts the stack; idempotent.
 */
import { Netstack, type NetstackOptions } from '@corridor/netstack';
import type { TunnelParams } from '@corridor/protocol';
import { MAX_TUN_MTU } from '../connection/connection.js';
import { familyOf } from '../system/cidr.js';
import { ProxyListeners } from './listeners.js';
import { NetstackDevice } from './netstack-device.js';
import { ProxyCore, type ProxyAuth } from './proxy-core.js';
import { TunnelResolver } from './resolver.js';

export interface ProxyEngineOptions {
  readonly auth: ProxyAuth | null;
  readonly ready: () => boolean;
  readonly dialTimeoutMs?: number;
  /** Extra stack options (tests: buffer sizes). */
  readonly stack?: Partial<Omit<NetstackOptions, 'addresses' | 'mtu' | 'sink'>>;
}

export class ProxyEngine {
  readonly device = new NetstackDevice();
  readonly resolver: TunnelResolver;
  readonly core: ProxyCore;
  readonly listeners: ProxyListeners;
  params: TunnelParams | null = null;
  dnsServers: string[] = [];
  private stack: Netstack | null = null;

  constructor(private readonly opts: ProxyEngineOptions) {
    this.resolver = new TunnelResolver({
      stack: () => this.stack,
      servers: () => this.dnsServers,
      ipv6: () => this.params?.clientIPv6 != null,
    });
    this.core = new ProxyCore({
      stack: () => this.stack,
      ready: opts.ready,
      resolver: this.resolver,
      auth: opts.auth,
      ...(opts.dialTimeoutMs !== undefined ? { dialTimeoutMs: opts.dialTimeoutMs } : {}),
    });
    this.listeners = new ProxyListeners(this.core);
  }

  get netstack(): Netstack | null {
    return this.stack;
  }

  applyParams(params: TunnelParams, previous: TunnelParams | null): boolean {
    this.params = params;
    const tunnelIPv6 = params.clientIPv6 !== null;
    this.dnsServers = params.dnsServers.filter((d) => familyOf(d) === 4 || tunnelIPv6);
    const same =
      previous !== null &&
      previous.clientIPv4 === params.clientIPv4 &&
      previous.clientIPv6 === params.clientIPv6 &&
      previous.mtu === params.mtu;
    if (same && this.stack !== null) return false;
    const old = this.stack;
    this.stack = new Netstack({
      ...this.opts.stack,
      addresses: [params.clientIPv4, ...(params.clientIPv6 ? [params.clientIPv6] : [])],
      mtu: Math.min(params.mtu, MAX_TUN_MTU),
      sink: this.device.sink,
    });
    this.device.attach(this.stack);
    old?.close();
    this.resolver.clear();
    return old !== null;
  }

  async close(): Promise<void> {
    await this.listeners.close().catch(() => undefined);
    this.stack?.close(); // RSTs to the far ends, while the tunnel may still carry them
    await new Promise((r) => setImmediate(r));
  }
}
