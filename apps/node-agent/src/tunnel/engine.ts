/**
 * The node's packet engine: one ResponderTunnel (sans-IO protocol), a TunDevice and one Bind per
 * transport (UDP, TCP), with the node's own rules around them. No kernel configuration and no
 * controller I/O here (see agent.ts); both are injected, so tests run it on MemoryTun + MemoryBind.
 *
 * Who calls what:
 *   - each Bind's batches go to ReceivePath (receive.ts: socket → open → replay/source checks → TUN);
 *   - the TUN's batches go to SendPath (send.ts: TUN → session by destination → seal → socket);
 *   - `tick(now)` runs from ONE timer loop (default every 250 ms): protocol timers (keepalives,
 *     dead sessions), ticket expiry, quota, idle sessions;
 *   - the control plane calls `applyRevocations()` (cuts live sessions at once) and drains
 *     `takeEnded()` / `sessionReports()` for heartbeats.
 * Admission (`authorize`, called synchronously by the tunnel inside a handshake, before any session
 * exists): full offline ticket verification (signature + key id + key validity window, node id,
 * expiry, client-key binding, revocation) — the tunnel has already checked mac1, cookies under load,
 * the per-source rate limit and the timestamp replay guard — then optional online authorisation, then
 * an address from the pool. Every refusal is silent on the wire, counted in `rejects` by reason and
 * logged rate-limited.
 * Quotas belong to tickets, not sessions: when a session of a ticket with a data quota ends, what it
 * moved goes into a ledger (ticket id -> bytes, until the ticket expires; at most QUOTA_LEDGER_MAX
 * entries), so a reconnect with the same ticket continues the count, and one whose quota is spent
 * is refused ('quotaExceeded').
 * TCP connections that sent something but carry no session are closed after `tcpProofTimeoutMs`
 * (TCP_PROOF_TIMEOUT_MS; checked in `tick`).
 * Drops of the node's own rules are a closed union (NODE_DROP_REASONS), counted per reason; the
 * tunnel's (including anti-spoofing: 'spoofedSource', 'notIP') are in `tunnel.drops`. Each drop is
 * counted in exactly one of the two.
 * Buffer ownership: see send.ts / receive.ts; nothing here keeps a view of a batch past the call.
 * After `close()` all sessions are ended (reason nodeShutdown) and every later batch is ignored.
 */
import {
  ResponderTunnel,
  formatPublicKey,
  shortKey,
  verifyTicket,
  type AuthorizeResult,
  type InitiationOptions,
  type ResponderPeer,
  type TicketRejectReason,
  type X25519KeyPair,
  type X25519PublicKey,
} from '@corridor/protocol';
import {
  HEARTBEAT_MAX_SESSIONS,
  type SessionEnd,
  type SessionEndReason,
  type SessionReport,
} from '@corridor/protocol/control';
import type { TunDevice } from '@corridor/tun';
import type { Bind, BindEndpoint, SendSlab } from '@corridor/tun/bind';
import { formatIpv6, type Ipv4Subnet, type Ipv6Subnet } from '../config.js';
import { RateLimitedLog, silentLogger, type Logger } from '../log.js';
import { AddressPool } from '../peers/address-pool.js';
import { Session, type SessionClaims } from '../peers/session.js';
import type { OnlineAuthorizer } from '../control/online-auth.js';
import type { TrustStore } from '../control/trust.js';
import { ReceivePath } from './receive.js';
import { SendPath } from './send.js';

/**
 * Why the node's own rules drop a packet. Closed: add here, never ad hoc. Anti-spoofing is not here:
 * the protocol's ResponderTunnel is the one place that checks inner sources, counted in
 * `tunnel.drops` ('spoofedSource', 'notIP'); receive.ts logs those drops with the session's ticket.
 */
export const NODE_DROP_REASONS = [
  'noRoute',
  'noEndpoint',
  'isolation',
  'bandwidth',
  'quota',
  'tunFull',
  'sendDropped',
] as const;
export type NodeDropReason = (typeof NODE_DROP_REASONS)[number];

/** Why an initiation with a well-formed handshake was refused at admission. Closed. */
export const ADMISSION_REJECT_REASONS = [
  'malformed',
  'unknownKey',
  'keyNotYetValid',
  'keyExpired',
  'badSignature',
  'expired',
  'notYetValid',
  'wrongNode',
  'wrongClientKey',
  'revoked',
  'onlineDenied',
  'onlineUnreachable',
  'onlinePending',
  'poolExhausted',
  'quotaExceeded',
] as const;
export type AdmissionRejectReason = (typeof ADMISSION_REJECT_REASONS)[number];

export interface EngineOptions {
  readonly nodeId: string;
  readonly staticKeys: X25519KeyPair;
  readonly tun: TunDevice;
  readonly binds: readonly Bind[];
  readonly trust: TrustStore;
  readonly subnet4: Ipv4Subnet;
  readonly subnet6: Ipv6Subnet | null;
  readonly mtu: number;
  readonly dnsServers: readonly string[];
  readonly keepaliveSeconds: number;
  readonly isolation: boolean;
  readonly maxSessions: number;
  readonly online?: OnlineAuthorizer | null;
  readonly handshakeRate?: number;
  readonly handshakeBurst?: number;
  readonly cookieThreshold?: number;
  readonly log?: Logger;
  /** Monotonic ms (protocol timers, rate limits). */
  readonly clock?: () => number;
  /** Wall clock ms since the epoch (tickets). */
  readonly wallClock?: () => number;
  /** Sessions idle (nothing authenticated received) this long are ended. Default 180 s. */
  readonly idleTimeoutMs?: number;
  /**
   * A TCP connection that sent something must carry a session (a completed handshake) within this
   * long, or it is closed. Default TCP_PROOF_TIMEOUT_MS.
   */
  readonly tcpProofTimeoutMs?: number;
}

/**
 * A TCP connection costs the node a slot (maxConnections, per-address limits) for as long as it sends
 * a frame now and then — and any bytes make a frame, authenticated or not. So a connection that sent
 * something must carry a session within this long (a client's handshake takes one round trip; a few
 * retransmissions and a cookie round trip under load fit), or the node closes it: holding TCP slots
 * then takes valid tickets, not garbage.
 */
export const TCP_PROOF_TIMEOUT_MS = 20_000;

/** Most tickets the quota ledger remembers (oldest forgotten first). */
export const QUOTA_LEDGER_MAX = 65_536;

interface QuotaUse {
  bytes: number;
  expiresAtMs: number;
}

interface PendingAdmission {
  claims: SessionClaims;
  index: number;
}

interface HeldInitiation {
  data: Buffer;
  endpoint: BindEndpoint;
  bind: Bind;
}

export class Engine {
  readonly tunnel: ResponderTunnel;
  readonly pool: AddressPool;
  readonly drops = Object.fromEntries(NODE_DROP_REASONS.map((r) => [r, 0])) as Record<NodeDropReason, number>;
  readonly rejects = Object.fromEntries(ADMISSION_REJECT_REASONS.map((r) => [r, 0])) as Record<
    AdmissionRejectReason,
    number
  >;
  readonly byV4 = new Map<number, Session>();
  readonly byV6 = new Map<number, Session>();
  readonly sessions = new Set<Session>();
  readonly endedTotal: Record<SessionEndReason, number> = {
    clientClosed: 0,
    idleTimeout: 0,
    ticketExpired: 0,
    revoked: 0,
    quotaExceeded: 0,
    replaced: 0,
    nodeShutdown: 0,
  };
  handshakes = 0;
  readonly clock: () => number;
  readonly wallClock: () => number;
  readonly log: Logger;
  readonly rlog: RateLimitedLog;
  readonly send: SendPath;
  readonly receive: ReceivePath;
  private ended: SessionEnd[] = [];
  private pending: PendingAdmission | null = null;
  private pendingOnlineKey: string | null = null;
  private readonly held = new Map<string, HeldInitiation>();
  /** TCP endpoints that sent something but carry no session yet: since when (monotonic ms). */
  private readonly unproven = new Map<BindEndpoint, { bind: Bind; since: number }>();
  /** TCP endpoints that carried a session (never put back into `unproven`). */
  private readonly proven = new WeakSet<BindEndpoint>();
  private readonly tcpProofTimeoutMs: number;
  /** Bytes moved by ended sessions of tickets with a data quota (see the header). */
  private readonly quotaUsed = new Map<string, QuotaUse>();
  private closed = false;
  private readonly idleTimeoutMs: number;
  /** Reused PacketSource for handshake messages (the tunnel reads it during the call only). */
  private readonly source = { ip: '', port: 0 };
  /**
   * Called when a ticket names a signing key the node does not know (the controller rotated keys and
   * the node has not fetched them yet): the agent fetches the keys at once (rate-limited in ControlSync)
   * so the client's next initiation is admitted, instead of waiting for the next heartbeat.
   */
  onUnknownSigningKey: () => void = () => {};
  /** Called when a session starts or ends (status, logs). */
  onSessionEvent: (kind: 'start' | 'end', s: Session, reason?: SessionEndReason) => void = () => {};

  constructor(readonly opts: EngineOptions) {
    this.clock = opts.clock ?? (() => performance.now());
    this.wallClock = opts.wallClock ?? Date.now;
    this.log = opts.log ?? silentLogger;
    this.rlog = new RateLimitedLog(this.log, 10_000, 5, this.clock);
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 180_000;
    this.tcpProofTimeoutMs = opts.tcpProofTimeoutMs ?? TCP_PROOF_TIMEOUT_MS;
    this.pool = new AddressPool(opts.subnet4, opts.subnet6);
    this.tunnel = new ResponderTunnel({
      staticKeys: opts.staticKeys,
      authorize: (ticket, key, options) => this.authorize(ticket, key, options),
      clock: this.clock,
      wallClock: this.wallClock,
      maxPeers: opts.maxSessions,
      rateLimiter: {
        packetsPerSecond: opts.handshakeRate ?? 20,
        burst: opts.handshakeBurst ?? 5,
        maxEntries: 65_536,
      },
      underLoadInitiationsPerSecond: opts.cookieThreshold ?? 1000,
    });
    if (opts.online) opts.online.onSettled = (key) => this.replayHeld(key);
    this.send = new SendPath(this);
    this.receive = new ReceivePath(this);
    for (const bind of opts.binds) {
      bind.onReceive((batch) => this.receive.onBatch(bind, batch));
      bind.on('endpointClosed', (ep) => this.onEndpointClosed(ep));
    }
    opts.tun.onPackets((batch) => this.send.onBatch(batch));
  }

  // ---- admission --------------------------------------------------------------------------------

  private reject(
    reason: AdmissionRejectReason,
    key: X25519PublicKey,
    fields: Record<string, unknown> = {},
  ): AuthorizeResult {
    this.rejects[reason]++;
    this.rlog.warn(`reject:${reason}`, 'handshake refused', { reason, client: shortKey(key), ...fields });
    return { ok: false, reason };
  }

  /** The tunnel's Authorize callback: synchronous, never throws. */
  private authorize(ticket: Buffer, clientKey: X25519PublicKey, options: InitiationOptions): AuthorizeResult {
    this.pending = null;
    this.pendingOnlineKey = null;
    const now = this.wallClock();
    const trust = this.opts.trust;
    const v = verifyTicket(ticket, {
      keys: (id) => trust.signingKey(id),
      nodeId: this.opts.nodeId,
      clientPublicKey: clientKey,
      nowMs: now,
      isRevoked: (c) => trust.isRevoked(c.ticketId, c.deviceId, c.userId),
    });
    if (!v.ok) {
      if (v.reason === 'unknownKey') this.onUnknownSigningKey();
      return this.reject(v.reason satisfies TicketRejectReason, clientKey);
    }
    const c = v.claims;
    // The verifier grants an expired ticket a clock-skew grace; a session ends at the ticket's expiry
    // (tick), so admitting within the grace would let its holder reconnect again and again after it.
    if (now >= c.expiresAt * 1000) return this.reject('expired', clientKey, { ticketId: c.ticketId });
    const quota = c.limits.dataQuotaBytes;
    if (quota > 0 && (this.quotaUsed.get(c.ticketId)?.bytes ?? 0) >= quota)
      return this.reject('quotaExceeded', clientKey, { ticketId: c.ticketId });
    const online = this.opts.online;
    if (online && online.mode !== 'off') {
      const d = online.decide({
        ticketId: c.ticketId,
        deviceId: c.deviceId,
        userId: c.userId,
        clientPublicKey: formatPublicKey('x25519pub', clientKey),
      });
      if (d.decision === 'pending') {
        this.pendingOnlineKey = d.key;
        return this.reject('onlinePending', clientKey);
      }
      if (d.decision === 'deny') {
        // require + no answer from the controller is its own reason; a controller's refusal names why.
        if (d.reason === 'controllerUnreachable' || d.reason === 'onlineBusy')
          return this.reject('onlineUnreachable', clientKey, { ticketId: c.ticketId });
        return this.reject('onlineDenied', clientKey, { ticketId: c.ticketId, controllerReason: d.reason });
      }
    }
    // The same key under another device id (its device was deleted and the key registered again): the
    // live session holds the old device's address, which renewing it in place would keep routed while
    // the client moves to the new one. End it; this handshake makes a new peer and session.
    const live = this.tunnel.peer(clientKey.toString('base64url'))?.userData as Session | undefined;
    if (live !== undefined && !live.ended && live.claims.deviceId !== c.deviceId)
      this.endSession(live, 'replaced');
    const index = this.pool.lease(c.deviceId);
    if (index === null) return this.reject('poolExhausted', clientKey);
    this.pending = {
      index,
      claims: {
        ticketId: c.ticketId,
        userId: c.userId,
        deviceId: c.deviceId,
        expiresAtMs: c.expiresAt * 1000,
        bandwidthBytesPerSec: c.limits.bandwidthBytesPerSec,
        dataQuotaBytes: c.limits.dataQuotaBytes,
      },
    };
    const p = this.pool;
    const mtu = options.requestedMtu >= 576 ? Math.min(options.requestedMtu, this.opts.mtu) : this.opts.mtu;
    const v6 = p.ipv6Bytes(index);
    return {
      ok: true,
      params: {
        clientIPv4: p.ipv4Text(index),
        clientIPv4Prefix: this.opts.subnet4.prefix,
        gatewayIPv4: this.opts.subnet4.gateway,
        clientIPv6: v6 === null ? null : formatIpv6(v6),
        clientIPv6Prefix: v6 === null ? 0 : (this.opts.subnet6?.prefix ?? 64),
        mtu,
        dnsServers: this.opts.dnsServers,
        keepaliveSeconds: this.opts.keepaliveSeconds,
        bandwidthBytesPerSecond: c.limits.bandwidthBytesPerSec,
        dataQuotaBytes: c.limits.dataQuotaBytes,
      },
    };
  }

  /**
   * Handles a non-data message from `endpoint` on `bind` (initiation; anything else is dropped by the
   * tunnel). Replies (response, cookie reply) go back to the same endpoint: queued in `replies` when
   * the caller batches them (the receive path sends one batch per bind batch: under a flood of
   * initiations that is one sendmmsg per recvmmsg, not one syscall per cookie reply), else sent at once.
   */
  handleHandshake(
    data: Buffer,
    endpoint: BindEndpoint,
    bind: Bind,
    scratch: Buffer,
    replies: SendSlab | null = null,
  ): void {
    if (this.closed) return;
    this.watchTcp(endpoint, bind);
    const source = this.source;
    source.ip = endpoint.address;
    source.port = endpoint.port;
    const res = this.tunnel.decapsulate(data, source, scratch, this.clock());
    if (res.type === 'writeToNetwork') {
      if (replies === null) bind.sendTo(res.data, endpoint);
      else {
        if (replies.full) {
          bind.send(replies);
          replies.clear();
        }
        if (!replies.pushCopyTo(res.data, endpoint)) bind.sendTo(res.data, endpoint);
      }
      if (res.peer !== null) this.admitted(res.peer, endpoint, bind);
    } else if (res.type === 'error' && this.pendingOnlineKey !== null) {
      // Held until the controller answered; replayed by replayHeld() (one per ticket+key, bounded).
      const key = this.pendingOnlineKey;
      this.pendingOnlineKey = null;
      if (this.held.size < 1024) this.held.set(key, { data: Buffer.from(data), endpoint, bind });
    }
    this.pending = null;
  }

  private replayHeld(key: string): void {
    const h = this.held.get(key);
    if (h === undefined) return;
    this.held.delete(key);
    this.handleHandshake(h.data, h.endpoint, h.bind, Buffer.alloc(256));
  }

  /** Starts the proof clock of a TCP endpoint that sent something (see TCP_PROOF_TIMEOUT_MS). */
  watchTcp(endpoint: BindEndpoint, bind: Bind): void {
    // Connection transports only (TCP, and whatever stream transport comes next): datagrams hold no slot.
    if (bind.transport === 'udp' || bind.transport === 'memory') return;
    if (this.proven.has(endpoint) || this.unproven.has(endpoint)) return;
    this.unproven.set(endpoint, { bind, since: this.clock() });
  }

  /** `endpoint` carries a session now (handshake completed, or an authenticated packet roamed there). */
  provenEndpoint(endpoint: BindEndpoint): void {
    if (endpoint.transport === 'udp' || endpoint.transport === 'memory') return;
    this.proven.add(endpoint);
    this.unproven.delete(endpoint);
  }

  private admitted(peer: ResponderPeer, endpoint: BindEndpoint, bind: Bind): void {
    const adm = this.pending;
    this.pending = null;
    if (adm === null) return; // cannot happen: a response follows a successful authorize
    this.provenEndpoint(endpoint);
    this.handshakes++;
    const wall = this.wallClock();
    let s = peer.userData as Session | undefined;
    if (s !== undefined && !s.ended) {
      if (s.claims.ticketId !== adm.claims.ticketId) {
        // A fresh ticket on the same client key: the old ticket's session ends, the new one starts.
        this.recordEnd(s, 'replaced', wall);
        this.recordQuotaUse(s);
        s.renew(adm.claims, wall, this.quotaUsedBefore(adm.claims));
        this.onSessionEvent('start', s);
      }
      s.endpoint = endpoint;
      s.bind = bind;
      return;
    }
    // The address may still belong to a session of the same device under another key.
    const owner = this.byV4.get(this.pool.key4(adm.index));
    if (owner !== undefined) this.endSession(owner, 'replaced');
    s = new Session(
      peer,
      adm.claims,
      adm.index,
      this.pool.key4(adm.index),
      this.pool.prefix6 === null ? null : this.pool.key6(adm.index),
      endpoint,
      bind,
      wall,
    );
    s.quotaUsedBefore = this.quotaUsedBefore(adm.claims);
    peer.userData = s;
    this.pool.hold(adm.index);
    this.sessions.add(s);
    this.byV4.set(s.v4, s);
    if (s.hasV6) this.byV6.set(s.v6Low, s);
    this.onSessionEvent('start', s);
  }

  // ---- session lifecycle ----------------------------------------------------------------------

  private quotaUsedBefore(claims: SessionClaims): number {
    return claims.dataQuotaBytes > 0 ? (this.quotaUsed.get(claims.ticketId)?.bytes ?? 0) : 0;
  }

  /** Puts what `s` moved under its current ticket into the quota ledger (tickets with a quota only). */
  private recordQuotaUse(s: Session): void {
    const c = s.claims;
    if (c.dataQuotaBytes <= 0) return;
    const ledger = this.quotaUsed;
    ledger.delete(c.ticketId);
    ledger.set(c.ticketId, {
      bytes: s.quotaUsedBefore + s.rxBytes + s.txBytes + (s.quotaExceeded ? c.dataQuotaBytes : 0),
      expiresAtMs: c.expiresAtMs,
    });
    while (ledger.size > QUOTA_LEDGER_MAX) {
      const oldest = ledger.keys().next().value as string;
      ledger.delete(oldest);
    }
  }

  private recordEnd(s: Session, reason: SessionEndReason, wall: number): void {
    this.endedTotal[reason]++;
    if (this.ended.length < HEARTBEAT_MAX_SESSIONS * 4) {
      this.ended.push({
        ticketId: s.claims.ticketId,
        deviceId: s.claims.deviceId,
        userId: s.claims.userId,
        rxBytes: s.rxBytes,
        txBytes: s.txBytes,
        connectedAt: new Date(s.connectedAt).toISOString(),
        endedAt: new Date(wall).toISOString(),
        reason,
      });
    }
    this.onSessionEvent('end', s, reason);
  }

  /** Ends a session now: keys wiped, addresses unrouted, reported in the next heartbeat. */
  endSession(s: Session, reason: SessionEndReason): void {
    if (s.ended) return;
    s.ended = true;
    this.recordQuotaUse(s);
    this.tunnel.removePeer(s.peer);
    this.sessions.delete(s);
    if (this.byV4.get(s.v4) === s) this.byV4.delete(s.v4);
    if (s.hasV6 && this.byV6.get(s.v6Low) === s) this.byV6.delete(s.v6Low);
    this.pool.release(s.index);
    s.endpoint = null;
    s.bind = null;
    this.recordEnd(s, reason, this.wallClock());
  }

  private onEndpointClosed(ep: BindEndpoint): void {
    this.unproven.delete(ep);
    for (const s of this.sessions) if (s.endpoint === ep) s.endpoint = null;
  }

  /** Applies revocations: every live session now covered by the revocation set ends at once. */
  applyRevocations(): number {
    const trust = this.opts.trust;
    let cut = 0;
    for (const s of [...this.sessions]) {
      if (trust.isRevoked(s.claims.ticketId, s.claims.deviceId, s.claims.userId)) {
        this.opts.online?.forgetTicket(s.claims.ticketId);
        this.endSession(s, 'revoked');
        cut++;
      }
    }
    return cut;
  }

  /** The timer loop body. */
  tick(now = this.clock()): void {
    if (this.closed) return;
    for (const r of this.tunnel.updateTimers(now)) {
      const s = r.peer.userData as Session | undefined;
      if (r.result.type === 'writeToNetwork') {
        if (s?.endpoint && s.bind) s.bind.sendTo(r.result.data, s.endpoint);
      } else if (r.result.type === 'error' && s !== undefined) {
        this.endSession(s, 'idleTimeout');
      }
    }
    for (const [ep, u] of this.unproven) {
      if (now - u.since < this.tcpProofTimeoutMs) continue;
      this.unproven.delete(ep);
      u.bind.closeEndpoint(ep);
    }
    const wall = this.wallClock();
    for (const [id, use] of this.quotaUsed) if (wall >= use.expiresAtMs) this.quotaUsed.delete(id);
    for (const s of [...this.sessions]) {
      if (s.quotaExceeded) this.endSession(s, 'quotaExceeded');
      else if (wall >= s.claims.expiresAtMs) this.endSession(s, 'ticketExpired');
      else if (now - s.peer.session.timers.lastReceivedAt > this.idleTimeoutMs)
        this.endSession(s, 'idleTimeout');
    }
  }

  // ---- reports ----------------------------------------------------------------------------------

  /** Ended sessions since the last call (for the heartbeat); `putBack` re-queues after a failure. */
  takeEnded(): SessionEnd[] {
    const out = this.ended;
    this.ended = [];
    return out;
  }

  putBack(ended: SessionEnd[]): void {
    this.ended = [...ended, ...this.ended].slice(0, HEARTBEAT_MAX_SESSIONS * 4);
  }

  sessionReports(): SessionReport[] {
    const out: SessionReport[] = [];
    for (const s of this.sessions) {
      if (out.length >= HEARTBEAT_MAX_SESSIONS) break;
      out.push({
        ticketId: s.claims.ticketId,
        deviceId: s.claims.deviceId,
        userId: s.claims.userId,
        rxBytes: s.rxBytes,
        txBytes: s.txBytes,
        connectedAt: new Date(s.connectedAt).toISOString(),
      });
    }
    return out;
  }

  get load(): number {
    return Math.min(1, this.sessions.size / this.opts.maxSessions);
  }

  /** Ends every session (reason nodeShutdown) and stops handling packets. */
  close(): void {
    if (this.closed) return;
    for (const s of [...this.sessions]) this.endSession(s, 'nodeShutdown');
    this.closed = true;
    this.opts.tun.onPackets(null);
    for (const b of this.opts.binds) b.onReceive(null);
    this.tunnel.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
