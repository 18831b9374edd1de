/**
 * A running `vpnctl connect`: the supervisor around the connection engine (engine.ts). It owns
 * everything that touches the system and the controller; the engine owns the tunnel.
 *
 * Lifecycle (every system change is journaled before it is made, see system/journal.ts):
 *   prepare()  controller side only: device key + registration, node choice, ticket, node address
 *              (and the controller's, for the kill switch). Nothing on the system changes yet.
 *   start()    journal; TUN interface; kill switch (if asked) BEFORE the first packet; engine start
 *              (handshake: UDP, TCP fallback); on the first tunnel parameters: addresses, routes,
 *              DNS. Resolves once connected. Any failure undoes what was done and rejects.
 *   running    control socket (status, disconnect), path monitor (re-pin + move the tunnel when
 *              the local network changes), DNS guard, status sampling once a second.
 *   shutdown() engine closed, every journaled change undone newest first, journal deleted, TUN
 *              closed, socket removed. Idempotent; `closed` resolves when done.
 *
 * The kill switch is never lifted by a reconnect: only shutdown() removes it.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import {
  InitiatorTunnel,
  parseX25519PublicKey,
  type TunnelParams,
  type X25519PublicKey,
} from '@corridor/protocol';
import type { NodeSummary, TicketResponse } from '@corridor/protocol/control';
import { ERROR_CODES } from '@corridor/protocol/control';
import type { LinuxTun } from '@corridor/tun';
import type { ApiClient } from '../api/client.js';
import { serverHost, serverPort } from '../config/store.js';
import type { CliContext } from '../context.js';
import { CLI_ERROR_CODES, UserError } from '../errors.js';
import { familyOf, type Prefix } from '../system/cidr.js';
import { DnsGuard } from '../system/dns.js';
import { KillSwitch, type AllowedPeer } from '../system/firewall.js';
import { configureTun, openClientTun } from '../system/interface.js';
import { Journal } from '../system/journal.js';
import { undoAll } from '../system/restore.js';
import { Router } from '../system/routes.js';
import { openBindLink } from './bind-link.js';
import type { LinkTransport } from './link.js';
import { openFrontLink, frontAllowRules, autoCandidates, pinnedEndpoint } from './transports/front-links.js';
import type { FrontOptions } from './transports/front-options.js';
import { NetworkMemory } from './transports/network-memory.js';
import { ControlServer } from './control-socket.js';
import { ensureDevice, type LocalDevice } from './device.js';
import { ConnectionEngine, ENGINE_DROP_REASONS, type EngineState, type TicketGrant } from './engine.js';
import { PathMonitor } from './path-monitor.js';
import type { ConnectionStatus } from './status.js';

/** Largest inner MTU a send slot holds (2048-byte slots minus the data header and tag). */
export const MAX_TUN_MTU = 2016;

export interface ConnectRequest {
  /** A node id, or 'auto'. */
  readonly target: string;
  readonly region: string | undefined;
  readonly transport: LinkTransport | 'auto';
  /** The node's HTTPS front (tls, wss): port, trust anchor, proxy, padding. */
  readonly front?: FrontOptions;
  readonly split: readonly Prefix[];
  readonly killSwitch: boolean;
  readonly dns: boolean;
  readonly resolvConf: string;
  readonly udpFallbackMs?: number;
  readonly handshakeTimeoutMs?: number;
}

export interface ConnectionUi {
  /** A step while connecting, or an event afterwards (reconnect, new ticket). */
  note(text: string): void;
  /** Every second while running. */
  tick(status: ConnectionStatus): void;
}

/** What prepare() learned from the controller (also used by `vpnctl proxy`, proxy/proxy-session.ts). */
export interface Prepared {
  readonly api: ApiClient;
  readonly device: LocalDevice;
  readonly node: NodeSummary | undefined;
  ticket: TicketResponse;
  readonly nodeKey: X25519PublicKey;
  readonly nodeIp: string;
  readonly controllerIps: readonly string[];
}

export function ticketGrant(t: TicketResponse): TicketGrant {
  return { ticket: Buffer.from(t.ticket, 'base64url'), expiresAtMs: Date.parse(t.expiresAt) };
}

async function resolveHost(host: string, what: string): Promise<string[]> {
  if (isIP(host)) return [host];
  try {
    const all = await lookup(host, { all: true });
    const v4 = all.filter((a) => a.family === 4).map((a) => a.address);
    const v6 = all.filter((a) => a.family === 6).map((a) => a.address);
    return [...v4, ...v6];
  } catch (e) {
    throw new UserError(
      CLI_ERROR_CODES.NODE_UNREACHABLE,
      `cannot resolve ${what} ${host} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      'check your network connection and DNS',
    );
  }
}

export class Connection {
  private journal: Journal | null = null;
  private tun: LinuxTun | null = null;
  private engine: ConnectionEngine | null = null;
  private router: Router | null = null;
  private dnsGuard: DnsGuard | null = null;
  private killSwitch: KillSwitch | null = null;
  private control: ControlServer | null = null;
  private monitor: PathMonitor | null = null;
  private sampler: NodeJS.Timeout | null = null;
  private dnsTimer: NodeJS.Timeout | null = null;
  private shuttingDown: Promise<void> | null = null;
  /** Settles when setUp() has finished or given up (see teardown). */
  private setUpSettled: Promise<void> = Promise.resolve();
  /** Settles when the last applyParams() has finished or given up. */
  private applying: Promise<void> = Promise.resolve();
  private resolveClosed!: () => void;
  /** Resolves once shutdown() finished restoring the system. */
  readonly closed = new Promise<void>((r) => (this.resolveClosed = r));
  private readonly startedAt = new Date();
  private rates = { sent: 0, received: 0 };
  private lastSample = { at: performance.now(), sent: 0, received: 0 };
  private dnsServers: string[] | null = null;

  private constructor(
    private readonly ctx: CliContext,
    readonly req: ConnectRequest,
    private readonly p: Prepared,
    private readonly ui: ConnectionUi,
  ) {}

  /** Controller side: device, node, ticket, addresses. Changes nothing on the system. */
  static async prepare(ctx: CliContext, req: ConnectRequest, ui: ConnectionUi): Promise<Connection> {
    const api = await ctx.api();
    let device = await ensureDevice(ctx, api);
    let node: NodeSummary | undefined;
    if (req.target === 'auto') {
      node = await api.bestNode(req.region);
      if (node === undefined) {
        throw new UserError(
          ERROR_CODES.NODE_OFFLINE,
          req.region ? `no node is online in region ${req.region}` : 'no node is online',
          req.region
            ? 'try another region (`vpnctl nodes` lists them) or try again later'
            : 'try again later',
        );
      }
      ui.note(`Picked ${node.id} (${node.city}, ${node.country}; load ${Math.round(node.load * 100)}%).`);
    } else {
      node = (await api.listNodes()).find((n) => n.id === req.target);
      if (node === undefined) {
        throw new UserError(
          CLI_ERROR_CODES.INPUT,
          `there is no node named '${req.target}'`,
          'list the nodes with `vpnctl nodes`',
        );
      }
      if (!node.online) {
        throw new UserError(
          ERROR_CODES.NODE_OFFLINE,
          `node ${node.id} is offline`,
          'pick another from `vpnctl nodes`, or `vpnctl connect auto`',
        );
      }
    }
    let ticket: TicketResponse;
    try {
      ticket = await api.ticket(node.id, device.record.id);
    } catch (e) {
      // The device was removed from the account (e.g. from another machine): register anew.
      if (
        e instanceof UserError &&
        e.code === ERROR_CODES.NOT_FOUND &&
        (await api.getDevice(device.record.id)) === undefined
      ) {
        ui.note('This device is no longer registered to your account; registering it again with a new key.');
        await ctx.store.removeDevice();
        device = await ensureDevice(ctx, api, true);
        ticket = await api.ticket(node.id, device.record.id);
      } else throw e;
    }
    const key = parseX25519PublicKey(ticket.node.publicKey);
    if (!key.ok)
      throw new UserError(
        CLI_ERROR_CODES.CONTROLLER_BAD_RESPONSE,
        'the controller sent a malformed node key',
        'update vpnctl',
      );
    const nodeIp = (await resolveHost(ticket.node.endpoint.host, 'the node'))[0]!;
    // Resolved now, while DNS works: re-ticketing while the tunnel is down must not need DNS (the
    // pushed servers are behind the tunnel), and the controller stays on the original route.
    const controllerIps = await resolveHost(serverHost(api.server), 'the controller');
    api.pinAddresses(controllerIps);
    return new Connection(
      ctx,
      req,
      { api, device, node, ticket, nodeKey: key.value, nodeIp, controllerIps },
      ui,
    );
  }

  /** The controller side, for `vpnctl proxy`, which runs its own engine and changes nothing on the system. */
  get prepared(): Prepared {
    return this.p;
  }

  get nodeId(): string {
    return this.p.ticket.node.id;
  }

  private killSwitchRules(tun: string) {
    const ep = this.p.ticket.node.endpoint;
    const allow: AllowedPeer[] = [
      { address: this.p.nodeIp, protocol: 'udp', port: ep.udpPort },
      { address: this.p.nodeIp, protocol: 'tcp', port: ep.tcpPort },
      ...frontAllowRules(this.req.front, this.p.nodeIp),
      ...this.p.controllerIps.map((address) => ({
        address,
        protocol: 'tcp' as const,
        port: serverPort(this.p.api.server),
      })),
    ];
    return { tun, allow };
  }

  /** Sets up the system and connects. Rejects (after undoing everything) when it cannot. */
  async start(): Promise<void> {
    const setUp = this.setUp();
    this.setUpSettled = setUp.then(
      () => undefined,
      () => undefined,
    );
    try {
      await setUp;
    } catch (e) {
      await this.shutdown('failed');
      throw e;
    }
  }

  /**
   * Called after every step of setUp()/applyParams() that awaited: a shutdown (Ctrl-C, SIGTERM,
   * `vpnctl disconnect`) that came meanwhile stops the set-up there, so nothing is changed after
   * teardown() undid the journal (a kill switch installed then would block the machine for good,
   * with no journal left to undo it).
   */
  private checkCancelled(): void {
    if (this.shuttingDown)
      throw new UserError(CLI_ERROR_CODES.NOT_CONNECTED, 'connection cancelled', undefined);
  }

  private async setUp(): Promise<void> {
    const { ticket } = this.p;
    this.checkCancelled();
    this.journal = await Journal.create(this.ctx.paths.journalFile);
    this.checkCancelled();
    this.tun = openClientTun();
    const tun = this.tun;
    if (this.req.killSwitch) {
      this.killSwitch = await KillSwitch.enable(this.journal, this.killSwitchRules(tun.name));
      this.checkCancelled();
      this.ui.note(
        'Kill switch on: nothing leaves this machine outside the tunnel until `vpnctl disconnect`.',
      );
    }
    const grant = ticketGrant(ticket);
    const tunnel = new InitiatorTunnel({
      staticKeys: this.p.device.keys,
      nodeStaticPublicKey: this.p.nodeKey,
      ticket: grant.ticket,
      options: { requestIPv6: true, requestedMtu: 0 },
    });
    const ep = ticket.node.endpoint;
    const address = { ip: this.p.nodeIp, udpPort: ep.udpPort, tcpPort: ep.tcpPort };
    const memory = NetworkMemory.inStateDir(this.ctx.paths.stateDir);
    const autoOrder =
      this.req.transport === 'auto'
        ? await autoCandidates(memory, this.req.front, (t) => this.ui.note(t))
        : undefined;
    const portOf = (t: LinkTransport) =>
      t === 'udp' ? ep.udpPort : t === 'tcp' ? ep.tcpPort : (this.req.front?.port ?? 443);
    this.engine = new ConnectionEngine(
      {
        tun,
        tunnel,
        openLink: (t) => {
          if (this.engine?.connectedAt == null)
            this.ui.note(
              `Handshaking with ${this.nodeId} at ${this.p.nodeIp} over ${t.toUpperCase()} port ${portOf(t)}${
                (t === 'tls' || t === 'wss') && this.req.front?.proxy ? ' through the proxy' : ''
              }...`,
            );
          if (t === 'tls' || t === 'wss') return openFrontLink(t, this.p.nodeIp, ep.host, this.req.front);
          return openBindLink(t, address);
        },
        renewTicket: () => this.renewTicket(),
        beforeReconnect: async () => {
          await this.router?.repin();
        },
        onParams: (params, previous) => this.applyParams(params, previous),
        onState: (state, detail) => this.onState(state, detail),
        onTransportWorked: (t) => {
          if (this.req.transport === 'auto')
            memory
              .remember(t)
              .catch((e: Error) => this.ui.note(`could not remember the transport: ${e.message}`));
        },
        log: (text) => this.ui.note(text),
      },
      {
        transport: this.req.transport,
        ...(autoOrder ? { autoOrder } : {}),
        ticketExpiresAtMs: grant.expiresAtMs,
        ...(this.req.udpFallbackMs !== undefined ? { udpFallbackMs: this.req.udpFallbackMs } : {}),
        ...(this.req.handshakeTimeoutMs !== undefined
          ? { handshakeTimeoutMs: this.req.handshakeTimeoutMs }
          : {}),
      },
    );
    // The control socket answers from the start, so `vpnctl status` shows a connection in progress.
    this.control = await ControlServer.listen(this.ctx.paths.socketFile, {
      status: () => this.status(),
      disconnect: () => void this.shutdown('disconnect requested'),
    });
    this.checkCancelled();
    await this.engine.start();
    this.checkCancelled();
    this.monitor = new PathMonitor(() => void this.networkChanged());
    this.monitor.start();
    this.sampler = setInterval(() => this.sample(), 1_000);
    if (this.dnsGuard) {
      this.dnsTimer = setInterval(() => {
        void this.dnsGuard?.check().then(
          (rewrote) =>
            rewrote &&
            this.ui.note(
              `${this.dnsGuard!.path} was replaced by another program; put the tunnel's DNS servers back.`,
            ),
          () => undefined,
        );
      }, 5_000);
    }
  }

  private async renewTicket(): Promise<TicketGrant> {
    const t = await this.p.api.ticket(this.nodeId, this.p.device.record.id);
    if (t.node.publicKey !== this.p.ticket.node.publicKey) {
      throw new Error(`node ${this.nodeId} has a new key (it was re-enrolled); run vpnctl connect again`);
    }
    this.p.ticket = t;
    return ticketGrant(t);
  }

  private applyParams(params: TunnelParams, previous: TunnelParams | null): Promise<void> {
    const applying = this.applyParamsNow(params, previous);
    this.applying = applying.then(
      () => undefined,
      () => undefined,
    );
    return applying;
  }

  private async applyParamsNow(params: TunnelParams, previous: TunnelParams | null): Promise<void> {
    this.checkCancelled();
    const tun = this.tun!;
    const effective = { ...params, mtu: Math.min(params.mtu, MAX_TUN_MTU) };
    await configureTun(
      tun,
      effective,
      previous ? { ...previous, mtu: Math.min(previous.mtu, MAX_TUN_MTU) } : null,
    );
    this.checkCancelled();
    if (previous !== null) {
      this.ui.note(
        `The node changed the tunnel parameters: now ${params.clientIPv4}/${params.clientIPv4Prefix}.`,
      );
      return;
    }
    const tunnelIPv6 = params.clientIPv6 !== null;
    const dnsServers = this.req.dns ? params.dnsServers.filter((d) => familyOf(d) === 4 || tunnelIPv6) : [];
    this.router = new Router(this.journal!, {
      tun: tun.name,
      mode: this.req.split.length > 0 ? 'split' : 'full',
      split: this.req.split,
      // Through a proxy the tunnel's own packets go to the proxy: that address is the one to pin.
      endpoint: pinnedEndpoint(this.engine?.transport ?? null, this.req.front, this.p.nodeIp),
      tunnelIPv6,
      dnsServers,
      outside: this.p.controllerIps,
    });
    await this.router.apply();
    this.checkCancelled();
    if (this.req.dns) {
      if (dnsServers.length > 0) {
        this.dnsGuard = await DnsGuard.apply(this.journal!, this.req.resolvConf, dnsServers, this.nodeId);
        this.dnsServers = dnsServers;
      } else {
        this.ui.note('The node pushed no DNS servers: keeping the system DNS settings.');
        this.dnsServers = [];
      }
    }
  }

  private onState(state: EngineState, detail: string): void {
    if (state === 'reconnecting') this.ui.note(`Reconnecting: ${detail}`);
    else if (state === 'connected' && this.engine && this.engine.reconnects > 0)
      this.ui.note(`Reconnected (${detail}).`);
  }

  private async networkChanged(): Promise<void> {
    if (!this.router || !this.engine || this.shuttingDown) return;
    try {
      if (await this.router.repin()) {
        this.ui.note(
          `The network changed: the node is now reached ${this.router.pinnedVia ?? 'directly'}; moving the tunnel.`,
        );
        await this.engine.pathChanged('the local network changed');
      }
    } catch (e) {
      this.ui.note(`Could not follow a network change: ${(e as Error).message}`);
    }
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

  status(): ConnectionStatus {
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
    return {
      state:
        e.state === 'connected' ? 'connected' : e.state === 'reconnecting' ? 'reconnecting' : 'connecting',
      mode: 'tun',
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
        ...(this.req.front ? { tlsPort: this.req.front.port } : {}),
      },
      transport: e.state === 'connected' ? e.transport : null,
      interface: this.tun?.name ?? '',
      address: {
        ipv4: params ? `${params.clientIPv4}/${params.clientIPv4Prefix}` : null,
        ipv6: params?.clientIPv6 ? `${params.clientIPv6}/${params.clientIPv6Prefix}` : null,
      },
      gateway: params?.gatewayIPv4 ?? null,
      mtu: params ? Math.min(params.mtu, MAX_TUN_MTU) : null,
      dns: this.req.dns ? this.dnsServers : null,
      routing: {
        mode: this.req.split.length > 0 ? 'split' : 'full',
        routes: this.router?.tunnelRoutes ?? [],
        ipv6: this.router?.blockedIPv6
          ? 'blocked'
          : params?.clientIPv6 && this.req.split.length === 0
            ? 'tunnel'
            : 'untouched',
      },
      killSwitch: this.killSwitch !== null,
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
    };
  }

  /** Tears everything down and restores the system. Idempotent. */
  shutdown(reason: string): Promise<void> {
    this.shuttingDown ??= this.teardown(reason).finally(() => this.resolveClosed());
    return this.shuttingDown;
  }

  private async teardown(_reason: string): Promise<void> {
    // Closing the engine makes a start() in progress fail; then wait until setUp() and a parameter
    // change in flight have stopped (checkCancelled), so everything they did is in the journal.
    await this.engine?.close().catch(() => undefined);
    await this.setUpSettled;
    await this.applying;
    if (this.sampler) clearInterval(this.sampler);
    if (this.dnsTimer) clearInterval(this.dnsTimer);
    this.monitor?.stop();
    await this.engine?.close().catch(() => undefined);
    const warnings: string[] = [];
    if (this.journal) {
      const failures = await undoAll(this.journal.entries, (w) => warnings.push(w));
      if (failures === 0) await this.journal.remove();
    }
    await this.tun?.close().catch(() => undefined);
    for (const w of warnings) this.ui.note(`warning: ${w}`);
    // Last: `vpnctl disconnect` waits for the socket to go away, which now means "all restored".
    await this.control?.close().catch(() => undefined);
  }
}
