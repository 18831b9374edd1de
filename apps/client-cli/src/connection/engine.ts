/**
 * The vpnctl connection engine: keeps one tunnel to one node up, moving packets between the TUN and
 * the node. No system configuration happens here (routes, DNS, kill switch belong to the supervisor,
 * connection.ts); no sockets are opened here either (links come from an injected factory over the
 * shared binds, see link.ts and bind-link.ts).
 *
 * Contract:
 * - `start()` resolves with the tunnel parameters once the first handshake completes, or rejects with
 *   a UserError when the node cannot be reached on any allowed transport (the first connect fails
 *   fast; after that the engine never gives up on its own).
 * - Transport: 'udp', 'tcp', 'tls' or 'wss' as asked; 'auto' tries `autoOrder` (default udp, tcp;
 *   the supervisor puts the transport remembered for this network first and adds tls, wss when the
 *   node's front is known) and moves on when a candidate fails to connect, gets no answer within
 *   `handshakeTimeoutMs`, or — UDP — within `udpFallbackMs`. Every reconnect starts from the top of
 *   the order again, since networks change. `onTransportWorked` reports each completed first
 *   handshake's transport (the supervisor remembers it per network).
 * - One timer loop (`tick(now)`, driven every TICK_MS by `run()`, or by tests with a fake clock):
 *   protocol timers (keepalive, rekey, retransmits) through `InitiatorTunnel.updateTimers`, the
 *   UDP->TCP fallback, handshake deadlines, re-ticketing and reconnect backoff.
 * - Re-ticketing: `reticketMarginMs` before the ticket expires, a fresh ticket is fetched
 *   (`renewTicket`) and a handshake carrying it starts while the current session keeps carrying
 *   traffic; the node extends the session to the new ticket. A failed fetch is retried with backoff.
 * - Reconnect: when the link goes down or a handshake gets no answer within `handshakeTimeoutMs`, the
 *   link is closed and a new one opened after a backoff (base * 2^n, capped, full jitter); before
 *   each attempt `beforeReconnect` runs (re-pin the node route, re-resolve) and a ticket due for
 *   renewal is renewed first; if that fails while the ticket is still valid (MIN_TICKET_LEFT_MS),
 *   the attempt goes ahead with it (the controller may only be reachable through the tunnel).
 * - Events for the supervisor: `onParams(params, previous)` after every handshake whose parameters
 *   differ from the last ones (also the first), `onState(state, detail)`.
 * - Data path: send.ts (TUN -> node) and receive.ts (node -> TUN); packet buffers are never
 *   allocated per packet, views are consumed within the batch call that produced them.
 * - The device is a `PacketDevice`: the kernel TUN for `vpnctl connect`, or the proxy's userspace
 *   stack (proxy/netstack-device.ts) for `vpnctl proxy`. The engine only reads batches from it and
 *   writes batches to it, so either works unchanged.
 * - Drops: the tunnel counts its own (`tunnel.drops`, a closed union); the engine counts
 *   `ENGINE_DROP_REASONS` in `drops`. Both appear in status.
 * - `close()` stops the loop, closes the link and wipes the tunnel's keys; idempotent.
 */
import { MESSAGE_INITIATION, messageType, type InitiatorTunnel, type TunnelParams } from '@corridor/protocol';
import type { TunDevice } from '@corridor/tun';
import { CLI_ERROR_CODES, UserError } from '../errors.js';
import type { Link, LinkFactory, LinkTransport } from './link.js';
import { receiveLinkBatch } from './receive.js';
import { sendTunBatch } from './send.js';

export const TICK_MS = 250;
/** A ticket with less validity left than this is not worth a handshake (clock skew, transit). */
export const MIN_TICKET_LEFT_MS = 5_000;
/** Receive side: room for one link batch of decrypted packets (UDP GRO batches can hold ~2000). */
const TUN_SLAB_BYTES = 512 * 1024;
const MAX_TUN_BATCH = 2048;

/** Why the engine dropped a packet (the tunnel's own reasons are in tunnel.drops). Closed list. */
export const ENGINE_DROP_REASONS = ['noLink', 'linkFull', 'notFromNode', 'tunFull'] as const;
export type EngineDropReason = (typeof ENGINE_DROP_REASONS)[number];

/**
 * What the engine needs of the device it serves: batches in (`onPackets`, views valid during the
 * call), batches out (`writeBatch`, views valid during the call; returns how many were taken). A
 * `TunDevice` is one; so is the proxy's `NetstackDevice`.
 */
export type PacketDevice = Pick<TunDevice, 'onPackets' | 'writeBatch' | 'writeSlab'>;

export type EngineState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface TicketGrant {
  readonly ticket: Uint8Array;
  /** Wall-clock expiry, ms since the epoch. */
  readonly expiresAtMs: number;
}

export interface EngineOptions {
  readonly transport: LinkTransport | 'auto';
  /** Candidates of 'auto', in order (default udp, tcp). */
  readonly autoOrder?: readonly LinkTransport[];
  readonly ticketExpiresAtMs: number;
  readonly udpFallbackMs?: number;
  readonly handshakeTimeoutMs?: number;
  /** How long before expiry to re-ticket (default: a third of the remaining life, at most 10 min). */
  readonly reticketMarginMs?: number;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
}

export interface EngineDeps {
  readonly tun: PacketDevice;
  readonly tunnel: InitiatorTunnel;
  readonly openLink: LinkFactory;
  readonly renewTicket: () => Promise<TicketGrant>;
  /** Before every reconnect attempt (re-pin routes, notice address changes). Errors are logged. */
  readonly beforeReconnect?: () => Promise<void>;
  readonly onParams?: (params: TunnelParams, previous: TunnelParams | null) => Promise<void> | void;
  readonly onState?: (state: EngineState, detail: string) => void;
  /** A handshake completed on a freshly opened link of this transport (for 'auto' memory). */
  readonly onTransportWorked?: (transport: LinkTransport) => void;
  readonly log?: (text: string) => void;
  /** Monotonic ms (default performance.now). */
  readonly clock?: () => number;
  readonly wallClock?: () => number;
  readonly random?: () => number;
}

export interface EngineCounters {
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  lastReceiveAt: number;
}

/** What the data path files see of the engine. */
export interface EngineCore {
  readonly tunnel: InitiatorTunnel;
  readonly tun: PacketDevice;
  readonly link: Link | null;
  readonly counters: EngineCounters;
  readonly drops: Record<EngineDropReason, number>;
  /** TUN write slab: the receive path decrypts packets back to back into it, one writeSlab per batch. */
  readonly tunSlab: Buffer;
  readonly tunLengths: Uint32Array;
  /** Output room for handshake messages given to `decapsulate` (their results are fresh buffers). */
  readonly scratch: Buffer;
  clock(): number;
  flush(): void;
  sendHandshake(message: Uint8Array, now: number): void;
  handshakeComplete(params: TunnelParams, now: number): void;
}

interface Attempt {
  readonly order: readonly LinkTransport[];
  index: number;
  startedAt: number;
  /** Last initiation sent on this candidate (UDP resends every second while waiting). */
  lastInitiationAt: number;
  opening: boolean;
  /** First connect: reject start() instead of retrying forever. */
  readonly initial: boolean;
  readonly failures: string[];
}

export class ConnectionEngine implements EngineCore {
  readonly counters: EngineCounters = {
    txPackets: 0,
    txBytes: 0,
    rxPackets: 0,
    rxBytes: 0,
    lastReceiveAt: -Infinity,
  };
  readonly drops = Object.fromEntries(ENGINE_DROP_REASONS.map((r) => [r, 0])) as Record<
    EngineDropReason,
    number
  >;
  readonly tunSlab = Buffer.alloc(TUN_SLAB_BYTES);
  readonly tunLengths = new Uint32Array(MAX_TUN_BATCH);
  readonly scratch = Buffer.alloc(2048);
  link: Link | null = null;
  state: EngineState = 'idle';
  params: TunnelParams | null = null;
  /** Transport of the established session. */
  transport: LinkTransport | null = null;
  lastHandshakeAt: number | null = null;
  connectedAt: number | null = null;
  reconnects = 0;
  lastError: string | null = null;
  ticketExpiresAtMs: number;
  readonly clock: () => number;

  private readonly wallClock: () => number;
  private readonly random: () => number;
  private readonly udpFallbackMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private attempt: Attempt | null = null;
  /** When the handshake in flight on an established session started (rekey, re-ticket, dead peer). */
  private rehandshakeSince: number | null = null;
  private retryAt: number | null = null;
  private failuresInRow = 0;
  private renewing = false;
  private nextRenewAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private startWaiters: { resolve: (p: TunnelParams) => void; reject: (e: Error) => void } | null = null;
  private linkGeneration = 0;

  constructor(
    private readonly deps: EngineDeps,
    private readonly opts: EngineOptions,
  ) {
    this.clock = deps.clock ?? (() => performance.now());
    this.wallClock = deps.wallClock ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.udpFallbackMs = opts.udpFallbackMs ?? 3_000;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 12_000;
    this.backoffBaseMs = opts.backoffBaseMs ?? 1_000;
    this.backoffMaxMs = opts.backoffMaxMs ?? 30_000;
    this.ticketExpiresAtMs = opts.ticketExpiresAtMs;
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  get tunnel(): InitiatorTunnel {
    return this.deps.tunnel;
  }

  get tun(): PacketDevice {
    return this.deps.tun;
  }

  private setState(state: EngineState, detail: string): void {
    if (this.state === state && state !== 'reconnecting') return;
    this.state = state;
    this.deps.onState?.(state, detail);
  }

  /** Connects; resolves with the first tunnel parameters. Starts the timer loop when `run` is true. */
  start(run = true): Promise<TunnelParams> {
    if (this.state !== 'idle') throw new Error('ConnectionEngine.start() called twice');
    this.deps.tun.onPackets((batch) => sendTunBatch(this, batch));
    const p = new Promise<TunnelParams>((resolve, reject) => (this.startWaiters = { resolve, reject }));
    this.setState('connecting', 'connecting');
    this.beginAttempt(true);
    if (run) {
      this.timer = setInterval(() => this.tick(this.clock()), TICK_MS);
    }
    return p;
  }

  // ---- links ------------------------------------------------------------------------------

  private transportsToTry(): LinkTransport[] {
    return this.opts.transport === 'auto'
      ? [...(this.opts.autoOrder ?? ['udp', 'tcp'])]
      : [this.opts.transport];
  }

  private beginAttempt(initial: boolean): void {
    this.retryAt = null;
    this.attempt = {
      order: this.transportsToTry(),
      index: 0,
      startedAt: this.clock(),
      lastInitiationAt: this.clock(),
      opening: false,
      initial,
      failures: [],
    };
    void this.openCandidate();
  }

  private async openCandidate(): Promise<void> {
    const a = this.attempt;
    if (a === null || this.state === 'closed') return;
    const transport = a.order[a.index]!;
    a.opening = true;
    await this.dropLink();
    let link: Link;
    try {
      link = await this.deps.openLink(transport);
    } catch (e) {
      a.opening = false;
      if (this.attempt !== a || this.isClosed()) return;
      this.candidateFailed(`${transport.toUpperCase()}: ${(e as Error).message}`);
      return;
    }
    a.opening = false;
    if (this.attempt !== a || this.isClosed()) {
      await link.close();
      return;
    }
    this.installLink(link);
    a.startedAt = a.lastInitiationAt = this.clock();
    const r = this.tunnel.connect(a.startedAt);
    if (r.type === 'writeToNetwork') this.sendHandshake(r.data, a.startedAt);
    this.flush();
  }

  private installLink(link: Link): void {
    const generation = ++this.linkGeneration;
    this.link = link;
    link.onReceive((batch) => receiveLinkBatch(this, batch));
    link.once('down', (reason) => {
      if (generation !== this.linkGeneration || this.state === 'closed') return;
      this.linkDown(`${link.transport.toUpperCase()} link to the node lost: ${reason}`);
    });
  }

  private async dropLink(): Promise<void> {
    const old = this.link;
    this.link = null;
    this.linkGeneration++;
    if (old) {
      old.onReceive(null);
      await old.close().catch(() => undefined);
    }
  }

  private candidateFailed(reason: string): void {
    const a = this.attempt!;
    a.failures.push(reason);
    if (a.index + 1 < a.order.length) {
      a.index++;
      this.deps.log?.(`${reason}; trying ${a.order[a.index]!.toUpperCase()}`);
      void this.openCandidate();
      return;
    }
    this.attempt = null;
    void this.dropLink();
    const summary = a.failures.join('; ');
    if (a.initial) {
      this.failStart(
        new UserError(
          CLI_ERROR_CODES.NODE_UNREACHABLE,
          `the node did not answer (${summary})`,
          this.opts.transport === 'udp'
            ? 'the network may block UDP: try --transport tcp (or auto); if the node is down, pick another (`vpnctl nodes`)'
            : 'check your network; the node may be down or refusing the ticket: pick another (`vpnctl nodes`) or try again later',
        ),
      );
      return;
    }
    this.scheduleRetry(summary);
  }

  private failStart(e: Error): void {
    const w = this.startWaiters;
    this.startWaiters = null;
    w?.reject(e);
  }

  private linkDown(reason: string): void {
    if (this.attempt && !this.attempt.opening) {
      // Down while handshaking: this candidate failed.
      this.candidateFailed(reason);
      return;
    }
    if (this.attempt) return;
    this.goDown(reason);
  }

  /** The established session is gone: reconnect after a backoff. */
  private goDown(reason: string): void {
    this.lastError = reason;
    this.deps.log?.(reason);
    this.rehandshakeSince = null;
    void this.dropLink();
    this.scheduleRetry(reason);
  }

  private scheduleRetry(reason: string): void {
    this.lastError = reason;
    const n = this.failuresInRow++;
    const cap = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** Math.min(n, 16));
    // Full jitter, with a floor so retries never spin.
    const delay = Math.max(this.backoffBaseMs / 2, this.random() * cap);
    this.retryAt = this.clock() + delay;
    this.setState('reconnecting', `${reason}; retrying in ${(delay / 1000).toFixed(1)} s`);
  }

  private async reconnect(): Promise<void> {
    this.retryAt = null;
    this.reconnects++;
    try {
      await this.deps.beforeReconnect?.();
    } catch (e) {
      this.deps.log?.(`before reconnect: ${(e as Error).message}`);
    }
    if (this.reticketDue(this.wallClock())) {
      // A failed renewal does not stop a reconnect while the ticket in hand is still valid: in a
      // full tunnel the controller is reached through the tunnel itself, so the new ticket can only
      // come once the tunnel is back up (tick() re-tickets then).
      const ok = await this.renew();
      if (!ok && this.ticketExpiresAtMs - this.wallClock() < MIN_TICKET_LEFT_MS) {
        this.scheduleRetry(this.lastError ?? 'cannot get a new ticket');
        return;
      }
    }
    if (this.state === 'closed') return;
    this.beginAttempt(false);
  }

  // ---- tunnel events (called by the data path) -----------------------------------------------

  sendHandshake(message: Uint8Array, now: number): void {
    const link = this.link;
    if (link === null) return;
    if (
      messageType(message) === MESSAGE_INITIATION &&
      this.attempt === null &&
      this.rehandshakeSince === null
    ) {
      this.rehandshakeSince = now;
    }
    if (!link.enqueue(message)) {
      this.flush();
      link.enqueue(message);
    }
  }

  handshakeComplete(params: TunnelParams, now: number): void {
    const previous = this.params;
    this.params = params;
    this.lastHandshakeAt = now;
    this.counters.lastReceiveAt = now;
    this.rehandshakeSince = null;
    this.failuresInRow = 0;
    const a = this.attempt;
    this.attempt = null;
    if (this.link) this.transport = this.link.transport;
    if (a !== null && this.link) this.deps.onTransportWorked?.(this.link.transport);
    const changed = previous === null || JSON.stringify(previous) !== JSON.stringify(params);
    const first = this.state !== 'connected';
    if (first) {
      this.connectedAt ??= now;
      this.lastError = null;
    }
    const done = () => {
      if (first) this.setState('connected', `connected over ${this.transport?.toUpperCase()}`);
      const w = this.startWaiters;
      this.startWaiters = null;
      w?.resolve(params);
    };
    if (changed && this.deps.onParams) {
      Promise.resolve(this.deps.onParams(params, previous)).then(done, (e: Error) => {
        if (a?.initial) this.failStart(e);
        else this.goDown(`applying the new tunnel parameters failed: ${e.message}`);
      });
    } else done();
  }

  flush(): void {
    const link = this.link;
    if (link !== null && link.queued > 0) link.flush();
  }

  // ---- timers -------------------------------------------------------------------------------

  /** Re-ticket when the ticket has less than a third of its life (at most 10 min) left. */
  private reticketDue(wall: number): boolean {
    const left = this.ticketExpiresAtMs - wall;
    const margin = this.opts.reticketMarginMs ?? Math.min(10 * 60_000, this.ticketLifetime / 3);
    return left <= margin;
  }

  private ticketLifetime = 0;

  /** Fetches a fresh ticket and hands it to the tunnel. Returns false (and schedules nothing) on failure. */
  private async renew(): Promise<boolean> {
    if (this.renewing) return false;
    this.renewing = true;
    try {
      const grant = await this.deps.renewTicket();
      this.ticketLifetime = Math.max(0, grant.expiresAtMs - this.wallClock());
      this.ticketExpiresAtMs = grant.expiresAtMs;
      this.tunnel.setTicket(grant.ticket);
      this.deps.log?.(`new ticket, valid until ${new Date(grant.expiresAtMs).toISOString()}`);
      return true;
    } catch (e) {
      this.lastError = `cannot get a new ticket: ${(e as Error).message}`;
      this.deps.log?.(this.lastError);
      return false;
    } finally {
      this.renewing = false;
    }
  }

  private async reticket(now: number): Promise<void> {
    if (!(await this.renew())) {
      this.nextRenewAt =
        now + Math.min(30_000, Math.max(2_000, (this.ticketExpiresAtMs - this.wallClock()) / 4));
      return;
    }
    if (this.state !== 'connected' || this.link === null) return;
    // Handshake with the new ticket while the current session keeps carrying traffic.
    const t = this.clock();
    const r = this.tunnel.connect(t);
    if (r.type === 'writeToNetwork') {
      this.sendHandshake(r.data, t);
      this.rehandshakeSince ??= t;
      this.flush();
    }
  }

  tick(now: number): void {
    if (this.state === 'closed' || this.state === 'idle') return;
    if (this.ticketLifetime === 0)
      this.ticketLifetime = Math.max(0, this.ticketExpiresAtMs - this.wallClock());
    const r = this.tunnel.updateTimers(now);
    if (r.type === 'writeToNetwork') {
      this.sendHandshake(r.data, now);
      this.flush();
    } else if (
      r.type === 'error' &&
      (r.reason === 'handshakeTimeout' || r.reason === 'expired') &&
      this.attempt === null &&
      this.state === 'connected'
    ) {
      this.goDown(r.reason === 'expired' ? 'the session expired' : 'the node stopped answering handshakes');
      return;
    }

    const a = this.attempt;
    if (a !== null && !a.opening && this.link !== null) {
      const waited = now - a.startedAt;
      const transport = a.order[a.index]!;
      if (
        transport === 'udp' &&
        this.opts.transport === 'auto' &&
        waited >= this.udpFallbackMs &&
        a.index + 1 < a.order.length
      ) {
        this.candidateFailed(`UDP: no answer in ${(this.udpFallbackMs / 1000).toFixed(0)} s`);
      } else if (waited >= this.handshakeTimeoutMs) {
        this.candidateFailed(
          `${transport.toUpperCase()}: no answer in ${(this.handshakeTimeoutMs / 1000).toFixed(0)} s`,
        );
      } else if (transport === 'udp' && now - a.lastInitiationAt >= 1_000) {
        // UDP loses packets: send a fresh initiation every second while we wait.
        a.lastInitiationAt = now;
        const init = this.tunnel.connect(now);
        if (init.type === 'writeToNetwork') {
          this.sendHandshake(init.data, now);
          this.flush();
        }
      }
    }

    if (this.retryAt !== null && now >= this.retryAt && this.attempt === null) {
      this.retryAt = null;
      void this.reconnect();
    }

    if (this.state === 'connected') {
      if (this.rehandshakeSince !== null && now - this.rehandshakeSince >= this.handshakeTimeoutMs) {
        this.goDown('the node stopped answering');
        return;
      }
      const wall = this.wallClock();
      if (!this.renewing && now >= this.nextRenewAt && this.reticketDue(wall)) {
        void this.reticket(now);
      }
    }
  }

  /** Forces a new handshake now (the local address changed: TCP reconnects, UDP roams). */
  async pathChanged(reason: string): Promise<void> {
    if (this.state !== 'connected') return;
    if (this.link !== null && this.link.transport !== 'udp') {
      this.goDown(`${reason}: reconnecting`);
      this.retryAt = this.clock(); // no backoff for a known change
      return;
    }
    const now = this.clock();
    const r = this.tunnel.connect(now);
    if (r.type === 'writeToNetwork') {
      this.sendHandshake(r.data, now);
      this.rehandshakeSince ??= now;
      this.flush();
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('closed', 'closed');
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.deps.tun.onPackets(null);
    this.failStart(new UserError(CLI_ERROR_CODES.NOT_CONNECTED, 'connection cancelled', undefined));
    await this.dropLink();
    this.tunnel.close();
  }
}
