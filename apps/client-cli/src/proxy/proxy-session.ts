/**
 * A running `vpnctl proxy`: the supervisor of the rootless mode. Same controller side as `connect`
 * (Connection.prepare: device, node choice, ticket), the same connection engine (handshake, UDP/TCP
 * fallback, keepalive, rekey, re-ticketing, reconnect with backoff) — but the engine's packet device
 * is a userspace TCP/IP stack (netstack-device.ts) instead of a TUN, and NOTHING on the system
 * changes: no interface, route, DNS or firewall, so no root and no journal.
 *
 * Lifecycle:
 *   prepare()  local listeners first (fail fast: port in use), then the controller side (as connect).
 *   start()    control socket (status, disconnect) -> engine start. On the first tunnel parameters a Netstack is created with the assigned
 *              address(es) and MTU; later parameters with another address replace it (connections
 *              of the old address are aborted: they could not continue anyway). Resolves once
 *              connected; any failure closes what was opened and rejects.
 *   running    SOCKS5 / HTTP clients -> ProxyCore -> netstack connections from the tunnel address,
 *              carried as IP packets through the ordinary Noise tunnel (the node sees a normal client).
 *              While reconnecting, new proxy requests are refused at once (SOCKS 0x03, HTTP 503).
 *   shutdown() listeners closed (clients dropped), stack aborted, engine closed, socket removed.
 *              Idempotent; `closed` resolves when done.
 */
import { InitiatorTunnel, type TunnelParams } from '@corridor/protocol';
import type { CliContext } from '../context.js';
import { openBindLink } from '../connection/bind-link.js';
import {
  Connection,
  MAX_TUN_MTU,
  ticketGrant,
  type ConnectionUi,
  type Prepared,
} from '../connection/connection.js';
import { ControlServer } from '../connection/control-socket.js';
import {
  ConnectionEngine,
  ENGINE_DROP_REASONS,
  type EngineState,
  type TicketGrant,
} from '../connection/engine.js';
import type { ListenAddress } from './listeners.js';
import { DIAL_FAILURES, REFUSALS, type ProxyAuth } from './proxy-core.js';
import { ProxyEngine } from './proxy-engine.js';
import type { ProxyConnectionStatus } from './proxy-status.js';

export interface ProxyRequest {
  readonly target: string;
  readonly region: string | undefined;
  readonly transport: 'udp' | 'tcp' | 'auto';
  readonly socks: ListenAddress | null;
  readonly http: ListenAddress | null;
  readonly auth: ProxyAuth | null;
  readonly udpFallbackMs?: number;
  readonly handshakeTimeoutMs?: number;
}

export class ProxySession {
  readonly proxy: ProxyEngine;
  private engine: ConnectionEngine | null = null;
  private control: ControlServer | null = null;
  private sampler: NodeJS.Timeout | null = null;
  private shuttingDown: Promise<void> | null = null;
  private resolveClosed!: () => void;
  readonly closed = new Promise<void>((r) => (this.resolveClosed = r));
  private readonly startedAt = new Date();
  private rates = { sent: 0, received: 0 };
  private lastSample = { at: performance.now(), sent: 0, received: 0 };

  private constructor(
    private readonly ctx: CliContext,
    readonly req: ProxyRequest,
    private readonly p: Prepared,
    private readonly ui: ConnectionUi,
    proxy: ProxyEngine,
  ) {
    this.proxy = proxy;
  }

  /** True while the tunnel carries traffic (the ProxyEngine's `ready`). */
  get connected(): boolean {
    return this.engine?.state === 'connected';
  }

  /**
   * Binds the local listeners first (a port in use fails before anything else happens), then asks
   * the controller. Until start() connects, proxy requests are refused as "tunnel down".
   */
  static async prepare(ctx: CliContext, req: ProxyRequest, ui: ConnectionUi): Promise<ProxySession> {
    let session: ProxySession | undefined;
    const proxy = new ProxyEngine({ auth: req.auth, ready: () => session?.connected ?? false });
    try {
      if (req.socks) await proxy.listeners.listen('socks', req.socks);
      if (req.http) await proxy.listeners.listen('http', req.http);
      session = await ProxySession.fromController(ctx, req, ui, proxy);
      return session;
    } catch (e) {
      await proxy.close();
      throw e;
    }
  }

  private static async fromController(
    ctx: CliContext,
    req: ProxyRequest,
    ui: ConnectionUi,
    proxy: ProxyEngine,
  ): Promise<ProxySession> {
    const c = await Connection.prepare(
      ctx,
      {
        target: req.target,
        region: req.region,
        transport: req.transport,
        split: [],
        killSwitch: false,
        dns: true,
        resolvConf: '',
      },
      ui,
    );
    return new ProxySession(ctx, req, c.prepared, ui, proxy);
  }

  get nodeId(): string {
    return this.p.ticket.node.id;
  }

  async start(): Promise<void> {
    try {
      await this.setUp();
    } catch (e) {
      await this.shutdown('failed');
      throw e;
    }
  }

  private async setUp(): Promise<void> {
    const { ticket } = this.p;
    this.control = await ControlServer.listen(this.ctx.paths.socketFile, {
      status: () => this.status(),
      disconnect: () => void this.shutdown('disconnect requested'),
    });
    const grant = ticketGrant(ticket);
    const tunnel = new InitiatorTunnel({
      staticKeys: this.p.device.keys,
      nodeStaticPublicKey: this.p.nodeKey,
      ticket: grant.ticket,
      options: { requestIPv6: true, requestedMtu: 0 },
    });
    const ep = ticket.node.endpoint;
    const address = { ip: this.p.nodeIp, udpPort: ep.udpPort, tcpPort: ep.tcpPort };
    this.engine = new ConnectionEngine(
      {
        tun: this.proxy.device,
        tunnel,
        openLink: (t) => {
          if (this.engine?.connectedAt == null)
            this.ui.note(
              `Handshaking with ${this.nodeId} at ${this.p.nodeIp} over ${t.toUpperCase()} port ${t === 'udp' ? ep.udpPort : ep.tcpPort}...`,
            );
          return openBindLink(t, address);
        },
        renewTicket: () => this.renewTicket(),
        onParams: (params, previous) => this.applyParams(params, previous),
        onState: (state, detail) => this.onState(state, detail),
        log: (text) => this.ui.note(text),
      },
      {
        transport: this.req.transport,
        ticketExpiresAtMs: grant.expiresAtMs,
        ...(this.req.udpFallbackMs !== undefined ? { udpFallbackMs: this.req.udpFallbackMs } : {}),
        ...(this.req.handshakeTimeoutMs !== undefined
          ? { handshakeTimeoutMs: this.req.handshakeTimeoutMs }
          : {}),
      },
    );
    await this.engine.start();
    this.sampler = setInterval(() => this.sample(), 1_000);
  }

  private async renewTicket(): Promise<TicketGrant> {
    const t = await this.p.api.ticket(this.nodeId, this.p.device.record.id);
    if (t.node.publicKey !== this.p.ticket.node.publicKey) {
      throw new Error(`node ${this.nodeId} has a new key (it was re-enrolled); run vpnctl proxy again`);
    }
    this.p.ticket = t;
    return ticketGrant(t);
  }

  private applyParams(params: TunnelParams, previous: TunnelParams | null): void {
    if (this.proxy.applyParams(params, previous)) {
      this.ui.note(
        `The node changed the tunnel parameters: now ${params.clientIPv4}/${params.clientIPv4Prefix}; open proxied connections were closed.`,
      );
    }
  }

  private onState(state: EngineState, detail: string): void {
    if (state === 'reconnecting') this.ui.note(`Reconnecting: ${detail}`);
    else if (state === 'connected' && this.engine && this.engine.reconnects > 0)
      this.ui.note(`Reconnected (${detail}).`);
  }

  private sample(): void {
    const e = this.engine;
    if (!e) return;
    const now = performance.now();
    const dt = (now - this.lastSample.at) / 1000;
    if (dt > 0) {
      this.rates = {
        sent: (e.counters.txBytes - this.lastSample.sent) / dt,
        received: (e.counters.rxBytes - this.lastSample.received) / dt,
      };
    }
    this.lastSample = { at: now, sent: e.counters.txBytes, received: e.counters.rxBytes };
    this.ui.tick(this.status());
  }

  status(): ProxyConnectionStatus {
    const e = this.engine!;
    const params = e.params;
    const node = this.p.node;
    const ep = this.p.ticket.node.endpoint;
    const drops: Record<string, number> = {};
    for (const [k, v] of Object.entries(e.tunnel.drops)) if (v > 0) drops[k] = v;
    for (const k of ENGINE_DROP_REASONS) if (e.drops[k] > 0) drops[k] = e.drops[k];
    const now = performance.now();
    const wallOf = (mono: number | null) =>
      mono === null ? null : new Date(Date.now() - (now - mono)).toISOString();
    const core = this.proxy.core;
    const c = core.counters;
    const failures: Record<string, number> = {};
    for (const k of DIAL_FAILURES) if (core.dialFailures[k] > 0) failures[k] = core.dialFailures[k];
    const refusals: Record<string, number> = {};
    for (const k of REFUSALS) if (core.refusals[k] > 0) refusals[k] = core.refusals[k];
    const tunnelIPv6 = params?.clientIPv6 != null;
    return {
      state:
        e.state === 'connected' ? 'connected' : e.state === 'reconnecting' ? 'reconnecting' : 'connecting',
      mode: 'proxy',
      pid: process.pid,
      node: {
        id: this.nodeId,
        region: node?.region ?? null,
        city: node?.city ?? null,
        country: node?.country ?? null,
        host: ep.host,
        address: this.p.nodeIp,
        udpPort: ep.udpPort,
        tcpPort: ep.tcpPort,
      },
      transport: e.state === 'connected' ? e.transport : null,
      interface: '',
      address: {
        ipv4: params ? `${params.clientIPv4}/${params.clientIPv4Prefix}` : null,
        ipv6: params?.clientIPv6 ? `${params.clientIPv6}/${params.clientIPv6Prefix}` : null,
      },
      gateway: params?.gatewayIPv4 ?? null,
      mtu: params ? Math.min(params.mtu, MAX_TUN_MTU) : null,
      dns: this.proxy.dnsServers,
      routing: { mode: 'full', routes: [], ipv6: tunnelIPv6 ? 'tunnel' : 'untouched' },
      killSwitch: false,
      startedAt: this.startedAt.toISOString(),
      connectedAt: wallOf(e.connectedAt),
      lastHandshakeAt: wallOf(e.lastHandshakeAt),
      handshakeAgeSeconds:
        e.lastHandshakeAt === null ? null : Math.max(0, Math.round((now - e.lastHandshakeAt) / 1000)),
      ticket: { id: this.p.ticket.ticketId, expiresAt: new Date(e.ticketExpiresAtMs).toISOString() },
      bytes: { sent: e.counters.txBytes, received: e.counters.rxBytes },
      rates: {
        sentBytesPerSecond: Math.round(this.rates.sent),
        receivedBytesPerSecond: Math.round(this.rates.received),
      },
      reconnects: e.reconnects,
      drops,
      lastError: e.lastError,
      proxy: {
        socks: this.proxy.listeners.bound.socks ?? null,
        http: this.proxy.listeners.bound.http ?? null,
        auth: core.authRequired,
        clients: core.clients,
        connections: { active: c.active, total: c.total, failed: c.failed },
        udpAssociations: { active: c.udpActive, total: c.udpTotal },
        bytes: { up: c.bytesUp, down: c.bytesDown },
        dnsQueries: this.proxy.resolver.queries,
        failures,
        refusals,
      },
    };
  }

  shutdown(reason: string): Promise<void> {
    this.shuttingDown ??= this.teardown(reason).finally(() => this.resolveClosed());
    return this.shuttingDown;
  }

  private async teardown(_reason: string): Promise<void> {
    if (this.sampler) clearInterval(this.sampler);
    await this.proxy.close();
    await this.engine?.close().catch(() => undefined);
    this.proxy.device.attach(null);
    await this.control?.close().catch(() => undefined);
  }
}
