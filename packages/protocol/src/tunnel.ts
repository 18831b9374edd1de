/**
 * Sans-IO tunnel endpoints (boringtun `noise/mod.rs` style): no sockets, no TUN, no timers of their
 * own. The caller moves bytes and calls `updateTimers(now)` from one timer loop.
 *
 *   InitiatorTunnel (client): connect -> initiation; decapsulate(response) -> handshakeComplete with
 *     the tunnel parameters; encapsulate(TUN packet) -> datagram; decapsulate(datagram) -> TUN packet.
 *   ResponderTunnel (node): one object for all clients. decapsulate(datagram from `source`) ->
 *     response / cookie reply / TUN packet of a peer; encapsulate(peer, packet). Batch data paths use
 *     openDataInto(datagram, slab, offset) / sealInto(peer, slab, offset, length, out) instead: the
 *     same checks, a length or -1 as the result (`lastPeer`, `lastDrop` say the rest), no object per
 *     packet. The initiator has the same pair (sealInto without a peer) for vpnctl's data path.
 *
 * Anti-spoofing (cryptokey routing): the responder delivers an authenticated inner packet to the TUN
 * only when it is IPv4/IPv6 with a full header and its source is the peer's assigned `clientIPv4` /
 * `clientIPv6` (`peer.params`); other packets are dropped as 'spoofedSource' or 'notIP'.
 *
 * Liveness: only the initiator starts handshakes. It rekeys every REKEY_AFTER_TIME_MS while connected,
 * idle or not, and sends persistent keepalives at the node-assigned `keepaliveSeconds` (never 0), so
 * the node can always reach an idle client. Handshake retransmissions carry a 0..333 ms jitter.
 *
 * Handshake defences at the responder, in order: mac1 -> cookie mode (more than
 * `underLoadInitiationsPerSecond` mac1-valid initiations in a second turns it on until
 * UNDER_LOAD_AFTER_TIME_MS after that was last the case) -> per-source token bucket -> DH -> timestamp
 * within INITIATION_TIMESTAMP_WINDOW_MS of the node's wall clock ('clockSkew') -> replay guard
 * ('staleTimestamp') -> per-client-key token bucket, CLIENT_KEY_INITIATIONS_PER_SECOND with a burst
 * of CLIENT_KEY_INITIATION_BURST ('clientKeyRateLimited') -> `authorize`.
 *
 * Peers: `removePeer(peer)` removes that very object (idempotent); a client whose peer was removed
 * or died gets a new ResponderPeer (same `id`) on its next handshake.
 *
 * Results are tagged (`writeToNetwork | writeToTun | handshakeComplete | done | error`). On the packet
 * path nothing throws: bad input yields `{ type: 'error', reason }` with a closed `DropReason`, also
 * counted per reason in `drops`.
 *
 * Buffer contracts: `data` in a result is a view of the caller's `out` buffer (valid until the caller
 * reuses `out`) except for handshake messages and keepalives produced by timers, which are fresh
 * buffers the caller owns. Encrypt in place by passing `packet = out.subarray(DATA_HEADER_BYTES, ...)`
 * with DATA_TRAILER_BYTES of room after it; decrypt in place with `out = datagram.subarray(DATA_HEADER_BYTES)`.
 *
 * After `close()` every call returns `{ type: 'error', reason: 'closed' }` and all keys are wiped.
 */
import {
  INITIATION_TIMESTAMP_WINDOW_MS,
  REKEY_AFTER_MESSAGES_NUMBER,
  REKEY_TIMEOUT_JITTER_MAX_MS,
  UNDER_LOAD_AFTER_TIME_MS,
} from './constants.js';
import { ClientKeyLimiter, type ClientKeyLimiterOptions } from './handshake/client-key-limiter.js';
import { CookieChecker, InitiatorCookieState, mac1Key } from './handshake/cookie.js';
import {
  consumeCookieReply,
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  parseInitiation,
  type HandshakeError,
  type PendingInitiation,
  type TransportKeys,
} from './handshake/messages.js';
import { formatIPv4, formatIPv6, parseIPv6 } from './handshake/ip.js';
import type { InitiationOptions, TunnelParams } from './handshake/payload.js';
import { RateLimiter, type RateLimiterOptions } from './handshake/rate-limiter.js';
import { ReplayTimestampGuard } from './handshake/replay-timestamp-guard.js';
import { decodeTai64nMs, Tai64nClock } from './handshake/tai64n.js';
import {
  DATA_MIN_BYTES,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_DATA,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  messageType,
  isLegacyHeader,
} from './handshake/wire.js';
import { wipeBytes } from './crypto/primitives.js';
import type { X25519KeyPair, X25519PublicKey } from './keys.js';
import { AllowedSources, type SourceCheck } from './session/allowed-source.js';
import { IndexTable } from './session/index-table.js';
import { Keypair } from './session/keypair.js';
import { Session, type SessionLimits } from './session/session.js';
import { ViewCache } from './session/view-cache.js';
import {
  dataReceiverIndex,
  isDataMessage,
  openData,
  sealData,
  sealDataFrom,
  TRANSPORT_BUFFER_TOO_SMALL,
  TRANSPORT_DECRYPT_FAILED,
  TRANSPORT_EXPIRED,
  TRANSPORT_PACKET_TOO_LARGE,
  TRANSPORT_REPLAY,
  TRANSPORT_SHORT_PACKET,
} from './session/transport.js';

/** Every reason a tunnel drops a message or refuses an operation. Closed: add here, never ad hoc. */
export const DROP_REASONS = [
  'shortPacket',
  'unknownType',
  'badLength',
  'badMac1',
  'badMac2',
  'needsCookie',
  'decryptFailed',
  'replay',
  'expired',
  'rateLimited',
  'clientKeyRateLimited',
  'noSession',
  'badTicket',
  'unknownIndex',
  'staleTimestamp',
  'clockSkew',
  'badPayload',
  'badKey',
  'bufferTooSmall',
  'packetTooLarge',
  'handshakeTimeout',
  'unexpectedMessage',
  'capacity',
  'ticketTooLarge',
  'spoofedSource',
  'notIP',
  'closed',
  /** A wire-version-1 message (zero salt): the peer runs an older Corridor; see handshake/wire.ts. */
  'legacyVersion',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export type TunnelResult =
  | { readonly type: 'writeToNetwork'; readonly data: Buffer }
  | { readonly type: 'writeToTun'; readonly data: Buffer }
  /**
   * Initiator only, after the first handshake and after every rekey: write `data` (a keepalive that
   * confirms the new keys to the node) to the network, and apply `params` if they changed.
   */
  | { readonly type: 'handshakeComplete'; readonly params: TunnelParams; readonly data: Buffer }
  | { readonly type: 'done' }
  | { readonly type: 'error'; readonly reason: DropReason; readonly detail?: string };

export type DropCounters = Record<DropReason, number>;

/** `openDataInto` (both ends) for a message that is not a data message (nothing counted). */
export const NOT_DATA_MESSAGE = -2;
/**
 * `InitiatorTunnel.sealInto` when no keypair can send (nothing counted): hand that packet to
 * `encapsulate`, which starts the handshake (or counts 'noSession' while one is in flight).
 */
export const NEEDS_HANDSHAKE = -3;

const DONE: TunnelResult = Object.freeze({ type: 'done' });

function newDropCounters(): DropCounters {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as DropCounters;
}

function defaultClock(): number {
  return performance.now();
}

function transportReason(code: number): DropReason {
  switch (code) {
    case TRANSPORT_BUFFER_TOO_SMALL:
      return 'bufferTooSmall';
    case TRANSPORT_EXPIRED:
      return 'expired';
    case TRANSPORT_REPLAY:
      return 'replay';
    case TRANSPORT_DECRYPT_FAILED:
      return 'decryptFailed';
    case TRANSPORT_SHORT_PACKET:
      return 'shortPacket';
    case TRANSPORT_PACKET_TOO_LARGE:
      return 'packetTooLarge';
    default:
      return 'decryptFailed';
  }
}

function handshakeReason(e: HandshakeError): DropReason {
  return e === 'badIndex' ? 'unknownIndex' : e;
}

function keypairFrom(
  keys: TransportKeys,
  localIndex: number,
  remoteIndex: number,
  now: number,
  isInitiator: boolean,
  limits: SessionLimits,
): Keypair {
  const kp = new Keypair({
    sendKey: keys.send,
    receiveKey: keys.receive,
    localIndex,
    remoteIndex,
    createdAt: now,
    isInitiator,
    rejectAfterMessages: limits.rejectAfterMessages,
  });
  wipeBytes(keys.send);
  wipeBytes(keys.receive);
  return kp;
}

const KEEPALIVE_BYTES = DATA_MIN_BYTES;
/** How often updateTimers sweeps refilled buckets out of the handshake rate limiters. */
const LIMITER_SWEEP_INTERVAL_MS = 1_000;

// Result views of the caller's `out` buffers (see ViewCache): one per hot call site.
const sealedView = new ViewCache();
const openedView = new ViewCache();

interface Counted {
  readonly drops: DropCounters;
}

function drop(t: Counted, reason: DropReason, detail?: string): TunnelResult {
  t.drops[reason]++;
  return detail === undefined ? { type: 'error', reason } : { type: 'error', reason, detail };
}

// ---------------------------------------------------------------------------------------------
// Initiator (client)
// ---------------------------------------------------------------------------------------------

export interface InitiatorTunnelOptions {
  /** The client's device key pair (its static key, bound into the ticket). Not copied: keep it alive. */
  readonly staticKeys: X25519KeyPair;
  readonly nodeStaticPublicKey: X25519PublicKey;
  /** Opaque node ticket from the controller (at most MAX_TICKET_BYTES). Copied. */
  readonly ticket: Uint8Array;
  readonly options?: InitiationOptions;
  /** Monotonic clock in ms for timers (default `performance.now`). */
  readonly clock?: () => number;
  /** Wall clock in ms since the epoch for the TAI64N timestamp (default `Date.now`). */
  readonly wallClock?: () => number;
  /** Uniform random numbers in [0, 1) for the retransmission jitter (default `Math.random`). */
  readonly random?: () => number;
  /** Overrides of the message-count limits (tests). */
  readonly limits?: Partial<SessionLimits>;
}

export class InitiatorTunnel {
  readonly drops: DropCounters = newDropCounters();
  /** After openDataInto / sealInto returned -1: why (also counted in `drops`). */
  lastDrop: DropReason | null = null;
  private readonly session: Session;
  private readonly cookies: InitiatorCookieState;
  private readonly ownMac1Key: Buffer;
  private readonly tai = new Tai64nClock();
  private readonly clock: () => number;
  private readonly wallClock: () => number;
  private readonly indexes = new IndexTable<true>(16);
  private ticket: Buffer;
  private pending: PendingInitiation | null = null;
  private tunnelParams: TunnelParams | null = null;

  constructor(private readonly opts: InitiatorTunnelOptions) {
    this.clock = opts.clock ?? defaultClock;
    this.wallClock = opts.wallClock ?? Date.now;
    this.ticket = Buffer.from(opts.ticket);
    this.cookies = new InitiatorCookieState(opts.nodeStaticPublicKey);
    this.ownMac1Key = mac1Key(opts.staticKeys.publicKey);
    this.session = new Session(true, (kp) => this.indexes.release(kp.localIndex), {
      rekeyAfterMessages: opts.limits?.rekeyAfterMessages ?? REKEY_AFTER_MESSAGES_NUMBER,
      rejectAfterMessages: opts.limits?.rejectAfterMessages,
    });
  }

  /** Parameters from the last completed handshake, or null. */
  get params(): TunnelParams | null {
    return this.tunnelParams;
  }

  /** Whether a keypair can send right now. */
  isEstablished(now = this.clock()): boolean {
    return this.session.sendingKeypair(now) !== null;
  }

  /** Replaces the ticket used by the next initiations (re-ticketing before expiry). */
  setTicket(ticket: Uint8Array): void {
    this.ticket = Buffer.from(ticket);
  }

  /** Starts (or restarts) a handshake: returns the initiation to send. */
  connect(now = this.clock()): TunnelResult {
    if (this.session.closed) return drop(this, 'closed');
    return this.sendInitiation(now);
  }

  private sendInitiation(now: number): TunnelResult {
    this.abandonPending();
    const index = this.indexes.allocate(true);
    if (index === null) return drop(this, 'capacity');
    const created = createInitiation({
      localStaticPrivateKey: this.opts.staticKeys.privateKey,
      localStaticPublicKey: this.opts.staticKeys.publicKey,
      remoteStaticPublicKey: this.opts.nodeStaticPublicKey,
      senderIndex: index,
      payload: {
        ticket: this.ticket,
        timestamp: this.tai.next(this.wallClock()),
        options: this.opts.options ?? { requestIPv6: false, requestedMtu: 0 },
      },
      cookies: this.cookies,
      now,
    });
    if (!created.ok) {
      this.indexes.release(index);
      return drop(
        this,
        created.error === 'ticketTooLarge' ? 'ticketTooLarge' : handshakeReason(created.error),
      );
    }
    this.pending = created.value;
    this.session.timers.onInitiationSent(now, this.drawJitter());
    return { type: 'writeToNetwork', data: created.value.message };
  }

  /** 0..REKEY_TIMEOUT_JITTER_MAX_MS - 1 ms; a misbehaving injected `random` is clamped. */
  private drawJitter(): number {
    const r = (this.opts.random ?? Math.random)();
    const ms = Math.floor((Number.isFinite(r) ? r : 0) * REKEY_TIMEOUT_JITTER_MAX_MS);
    return Math.min(Math.max(ms, 0), REKEY_TIMEOUT_JITTER_MAX_MS - 1);
  }

  private abandonPending(): void {
    if (this.pending === null) return;
    this.pending.handshake.wipe();
    this.indexes.release(this.pending.senderIndex);
    this.pending = null;
  }

  /**
   * Seals a TUN packet into `out`. Without a usable keypair the packet is dropped and, unless a
   * handshake is already in flight, the result is the initiation to send (callers may queue the
   * packet and retry after 'handshakeComplete').
   */
  encapsulate(packet: Uint8Array, out: Buffer, now = this.clock()): TunnelResult {
    if (this.session.closed) return drop(this, 'closed');
    const kp = this.session.sendingKeypair(now);
    if (kp === null) {
      if (this.pending === null) return this.sendInitiation(now);
      return drop(this, 'noSession');
    }
    const n = sealData(kp, packet, out);
    if (n < 0) return drop(this, transportReason(n));
    this.session.timers.onDataSent(now, packet.length === 0);
    return { type: 'writeToNetwork', data: sealedView.view(out, 0, n) };
  }

  /**
   * Batch send without a result object: seals `src[srcOffset .. srcOffset + length)` into `out`
   * (header at out[0]). Returns the sealed length; -1 when dropped (counted, `lastDrop` says why);
   * NEEDS_HANDSHAKE when no keypair can send (nothing counted: pass that packet to `encapsulate`).
   */
  sealInto(src: Uint8Array, srcOffset: number, length: number, out: Uint8Array, now = this.clock()): number {
    if (this.session.closed) return this.dropAt('closed');
    const kp = this.session.sendingKeypair(now);
    if (kp === null) return NEEDS_HANDSHAKE;
    const n = sealDataFrom(kp, src, srcOffset, length, out);
    if (n < 0) return this.dropAt(transportReason(n));
    this.session.timers.onDataSent(now, length === 0);
    return n;
  }

  /**
   * Batch receive without a result object: authenticates a data message and decrypts it into
   * `out[outOffset ..]`. Returns the inner packet's length (0 for a keepalive); -1 when dropped
   * (counted, `lastDrop` says why); NOT_DATA_MESSAGE for anything else (nothing counted: pass it to
   * `decapsulate`). The replay window moves only after the tag verified.
   */
  openDataInto(datagram: Uint8Array, out: Uint8Array, outOffset: number, now = this.clock()): number {
    if (!isDataMessage(datagram)) return NOT_DATA_MESSAGE;
    if (this.session.closed) return this.dropAt('closed');
    const index = dataReceiverIndex(datagram);
    const s = this.session;
    const kp =
      s.current !== null && s.current.localIndex === index
        ? s.current
        : s.previous !== null && s.previous.localIndex === index
          ? s.previous
          : null;
    if (kp === null) return this.dropAt('unknownIndex');
    if (!s.usable(kp, now)) return this.dropAt('expired');
    const n = openData(kp, datagram, out, outOffset);
    if (n < 0) return this.dropAt(transportReason(n));
    s.timers.onAuthenticatedReceive(now, n === 0);
    return n;
  }

  private dropAt(reason: DropReason): number {
    this.drops[reason]++;
    this.lastDrop = reason;
    return -1;
  }

  /** Opens a datagram from the node: a response, a cookie reply or data. */
  decapsulate(datagram: Uint8Array, out: Buffer, now = this.clock()): TunnelResult {
    if (this.session.closed) return drop(this, 'closed');
    if (isDataMessage(datagram)) return this.receiveData(datagram, out, now);
    if (datagram.length < 4) return drop(this, 'shortPacket');
    switch (messageType(datagram)) {
      case MESSAGE_RESPONSE:
        return this.receiveResponse(datagram, now);
      case MESSAGE_COOKIE_REPLY:
        return this.receiveCookieReply(datagram, now);
      case MESSAGE_DATA:
        return drop(this, 'shortPacket');
      case MESSAGE_INITIATION:
        return drop(this, 'unexpectedMessage');
      default:
        return drop(this, isLegacyHeader(datagram) ? 'legacyVersion' : 'unknownType');
    }
  }

  private receiveData(datagram: Uint8Array, out: Buffer, now: number): TunnelResult {
    const index = dataReceiverIndex(datagram);
    const s = this.session;
    const kp =
      s.current !== null && s.current.localIndex === index
        ? s.current
        : s.previous !== null && s.previous.localIndex === index
          ? s.previous
          : null;
    if (kp === null) return drop(this, 'unknownIndex');
    if (!s.usable(kp, now)) return drop(this, 'expired');
    const n = openData(kp, datagram, out);
    if (n < 0) return drop(this, transportReason(n));
    s.timers.onAuthenticatedReceive(now, n === 0);
    if (n === 0) return DONE;
    return { type: 'writeToTun', data: openedView.view(out, 0, n) };
  }

  private receiveResponse(datagram: Uint8Array, now: number): TunnelResult {
    const pending = this.pending;
    if (pending === null) return drop(this, 'unexpectedMessage');
    const consumed = consumeResponse(datagram, pending, this.ownMac1Key);
    if (!consumed.ok) return drop(this, handshakeReason(consumed.error));
    this.pending = null;
    const kp = keypairFrom(
      consumed.value.keys,
      pending.senderIndex,
      consumed.value.senderIndex,
      now,
      true,
      this.session.limits,
    );
    wipeBytes(consumed.value.keys.handshakeHash);
    this.session.installAsInitiator(kp, now);
    this.tunnelParams = consumed.value.params;
    this.session.timers.persistentKeepaliveMs = consumed.value.params.keepaliveSeconds * 1000;
    // Confirm the new keys right away (the node promotes them on first use).
    const keepalive = Buffer.alloc(KEEPALIVE_BYTES);
    const n = sealData(kp, keepalive.subarray(0, 0), keepalive);
    if (n < 0) return drop(this, transportReason(n));
    this.session.timers.onDataSent(now, true);
    return { type: 'handshakeComplete', params: consumed.value.params, data: keepalive };
  }

  private receiveCookieReply(datagram: Uint8Array, now: number): TunnelResult {
    const pending = this.pending;
    if (pending === null) return drop(this, 'unexpectedMessage');
    const r = consumeCookieReply(datagram, pending, this.cookies, now);
    if (!r.ok) return drop(this, handshakeReason(r.error));
    // The retransmission timer sends the next initiation, now with mac2.
    return DONE;
  }

  /**
   * Runs the timer rules (see timers.ts): returns an initiation or keepalive to send, an error
   * ('handshakeTimeout', or 'expired' once when the session died and was wiped), or done.
   */
  updateTimers(now = this.clock()): TunnelResult {
    if (this.session.closed) return drop(this, 'closed');
    const action = this.session.timerAction(now);
    switch (action) {
      case 'none':
        return DONE;
      case 'initiateHandshake':
      case 'retransmitHandshake':
        return this.sendInitiation(now);
      case 'handshakeTimeout':
        this.abandonPending();
        this.session.timers.abandonAttempt();
        return drop(this, 'handshakeTimeout');
      case 'sessionDead':
        this.abandonPending();
        this.session.timers.abandonAttempt();
        this.session.wipeKeypairs();
        this.cookies.wipe();
        this.session.timers.markDead();
        return drop(this, 'expired');
      case 'sendKeepalive': {
        const kp = this.session.sendingKeypair(now);
        if (kp === null) return DONE;
        const keepalive = Buffer.alloc(KEEPALIVE_BYTES);
        const n = sealData(kp, keepalive.subarray(0, 0), keepalive);
        if (n < 0) return drop(this, transportReason(n));
        this.session.timers.onDataSent(now, true);
        return { type: 'writeToNetwork', data: keepalive };
      }
    }
  }

  /** Wipes all keys; every later call returns 'closed'. */
  close(): void {
    this.abandonPending();
    this.session.close();
    this.cookies.wipe();
  }
}

// ---------------------------------------------------------------------------------------------
// Responder (node)
// ---------------------------------------------------------------------------------------------

export type AuthorizeResult =
  { readonly ok: true; readonly params: TunnelParams } | { readonly ok: false; readonly reason: string };

/**
 * Decides whether an initiation may open a session: verifies the opaque ticket (signature, expiry,
 * node id, binding to `clientStaticPublicKey`, revocation) and picks the tunnel parameters.
 * Synchronous and must not throw (a throw is treated as a refusal).
 */
export type Authorize = (
  ticket: Buffer,
  clientStaticPublicKey: X25519PublicKey,
  options: InitiationOptions,
) => AuthorizeResult;

/**
 * The rate limiter's bucket for a source address: the address itself for IPv4 (also v4-mapped),
 * the /64 prefix for IPv6, since one host usually owns a whole /64 and could otherwise rotate
 * addresses to get a fresh bucket per initiation (wireguard-go keys IPv6 the same way).
 */
export function rateLimitKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  const zone = ip.indexOf('%');
  const bytes = parseIPv6(zone < 0 ? ip : ip.slice(0, zone));
  if (bytes === null) return ip; // e.g. dotted v4-mapped text: one IPv4 address, keyed as-is
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return formatIPv4(bytes, 12);
  bytes.fill(0, 8);
  return `${formatIPv6(bytes)}/64`;
}

/** Where a datagram came from: the rate limiter keys on `ip` (see rateLimitKey), cookies bind to `ip` and `port`. */
export interface PacketSource {
  readonly ip: string;
  readonly port: number;
}

export interface ResponderTunnelOptions {
  readonly staticKeys: X25519KeyPair;
  readonly authorize: Authorize;
  readonly clock?: () => number;
  /**
   * Wall clock in ms since the epoch (default `Date.now`): initiations whose timestamp is further than
   * `initiationTimestampWindowMs` from it are dropped ('clockSkew'), which bounds the replay guard.
   */
  readonly wallClock?: () => number;
  /** Default INITIATION_TIMESTAMP_WINDOW_MS (5 minutes either way). */
  readonly initiationTimestampWindowMs?: number;
  readonly rateLimiter?: Partial<RateLimiterOptions>;
  readonly replayGuardCapacity?: number;
  /**
   * Initiations per second (after mac1) above which the node demands cookies, until
   * UNDER_LOAD_AFTER_TIME_MS after the load was last seen. Default 1000.
   */
  readonly underLoadInitiationsPerSecond?: number;
  /** Per-client-key initiation limit; defaults 50/s with a burst of 5 (CLIENT_KEY_INITIATION_*). */
  readonly clientKeyLimiter?: Partial<ClientKeyLimiterOptions>;
  readonly maxPeers?: number;
  readonly limits?: Partial<SessionLimits>;
}

/**
 * A client as the node sees it. `id` is stable per client static key. `params` are the tunnel
 * parameters handed out in the last handshake; their `clientIPv4` / `clientIPv6` are the only inner
 * source addresses accepted from this peer (assigning new params changes that at once).
 */
export class ResponderPeer {
  #params: TunnelParams;
  /** The inner source addresses this peer may use (mirrors `params`). */
  readonly #allowedSources: AllowedSources;
  /** Free for the caller (endpoint for roaming, counters, address pool lease...). */
  userData: unknown = undefined;

  /** `id` is the client static key in base64url (the peer keeps only this text form of it). */
  constructor(
    readonly id: string,
    params: TunnelParams,
    readonly session: Session,
  ) {
    this.#params = params;
    this.#allowedSources = new AllowedSources(params.clientIPv4, params.clientIPv6);
  }

  /**
   * The client's static key, decoded from `id` into a fresh buffer per call: the handshake's key is a
   * slice of a shared allocation pool, and keeping it would pin a whole pool chunk per peer.
   */
  get clientStaticPublicKey(): X25519PublicKey {
    const key = Buffer.alloc(32);
    key.write(this.id, 'base64url');
    return key as X25519PublicKey;
  }

  /**
   * Whether the first `length` bytes of `packet` are an IPv4/IPv6 packet from this peer's assigned
   * address ('ok'), from any other source ('spoofedSource'), or no IP packet at all ('notIP').
   * `ResponderTunnel.decapsulate` applies it to every inner packet; exposed for callers that
   * carry inner packets by other means.
   */
  checkInnerSource(packet: Uint8Array, length = packet.length): SourceCheck {
    return this.#allowedSources.check(packet, 0, length);
  }

  /** checkInnerSource for the packet at `buf[offset .. offset + length)`. */
  checkInnerSourceAt(buf: Uint8Array, offset: number, length: number): SourceCheck {
    return this.#allowedSources.check(buf, offset, length);
  }

  get params(): TunnelParams {
    return this.#params;
  }

  set params(params: TunnelParams) {
    this.#params = params;
    this.#allowedSources.set(params.clientIPv4, params.clientIPv6);
  }
}

/**
 * Responder results carry the peer the datagram authenticated for (`peer !== null` on writeToTun and
 * on 'done' for a keepalive): the caller may then update that peer's endpoint (roaming). A cookie
 * reply has `peer: null`.
 */
export type ResponderResult =
  | { readonly type: 'writeToNetwork'; readonly data: Buffer; readonly peer: ResponderPeer | null }
  | { readonly type: 'writeToTun'; readonly data: Buffer; readonly peer: ResponderPeer }
  | { readonly type: 'done'; readonly peer: ResponderPeer | null }
  | { readonly type: 'error'; readonly reason: DropReason; readonly detail?: string };

export interface PeerTimerResult {
  readonly peer: ResponderPeer;
  readonly result: TunnelResult;
}

export class ResponderTunnel {
  readonly drops: DropCounters = newDropCounters();
  private readonly checker: CookieChecker;
  private readonly rateLimiter: RateLimiter;
  private readonly replayGuard: ReplayTimestampGuard;
  private readonly clock: () => number;
  private readonly peers = new Map<string, ResponderPeer>();
  private readonly indexes: IndexTable<ResponderPeer>;
  private readonly limits: SessionLimits;
  private readonly loadThreshold: number;
  private readonly timestampWindowMs: number;
  private loadWindowStart = -Infinity;
  private loadCount = 0;
  /** Cookie mode lasts until then (monotonic ms); pushed forward while the load persists. */
  private underLoadUntil = -Infinity;
  private readonly clientKeyLimiter: ClientKeyLimiter;
  /** Last sweep of refilled rate-limit buckets (monotonic ms); see updateTimers. */
  private lastLimiterSweepAt = -Infinity;
  /** Drops a retired keypair's receiver index; one function shared by every peer's Session. */
  private readonly retireKeypair = (kp: Keypair): void => this.indexes.release(kp.localIndex);
  private closed = false;
  /** Forces cookie mode on (true), off (false) or automatic (null, the default). */
  underLoadOverride: boolean | null = null;
  /** After openDataInto: the peer the message authenticated for, or null (see there). */
  lastPeer: ResponderPeer | null = null;
  /** After openDataInto / sealInto returned -1: why. */
  lastDrop: DropReason | null = null;

  constructor(private readonly opts: ResponderTunnelOptions) {
    this.checker = new CookieChecker(opts.staticKeys.publicKey);
    this.rateLimiter = new RateLimiter(opts.rateLimiter);
    this.replayGuard = new ReplayTimestampGuard(opts.replayGuardCapacity);
    this.clock = opts.clock ?? defaultClock;
    this.indexes = new IndexTable<ResponderPeer>(Math.max(16, (opts.maxPeers ?? 65_536) * 4));
    this.limits = {
      rekeyAfterMessages: opts.limits?.rekeyAfterMessages ?? REKEY_AFTER_MESSAGES_NUMBER,
      rejectAfterMessages: opts.limits?.rejectAfterMessages,
    };
    this.loadThreshold = opts.underLoadInitiationsPerSecond ?? 1000;
    this.timestampWindowMs = opts.initiationTimestampWindowMs ?? INITIATION_TIMESTAMP_WINDOW_MS;
    this.clientKeyLimiter = new ClientKeyLimiter(opts.clientKeyLimiter);
  }

  get peerCount(): number {
    return this.peers.size;
  }

  peer(id: string): ResponderPeer | undefined {
    return this.peers.get(id);
  }

  *allPeers(): IterableIterator<ResponderPeer> {
    yield* this.peers.values();
  }

  /**
   * Cookie mode with hysteresis: on from the moment more than the threshold of initiations arrived
   * within one 1-second window until UNDER_LOAD_AFTER_TIME_MS after that last happened. Initiations
   * answered with cookie replies still count, so a sustained flood keeps the node in cookie mode
   * instead of letting every new window pay `threshold` Diffie-Hellman operations again.
   */
  private isUnderLoad(now: number): boolean {
    if (this.underLoadOverride !== null) return this.underLoadOverride;
    return now < this.underLoadUntil;
  }

  private countInitiation(now: number): void {
    if (now - this.loadWindowStart >= 1000) {
      this.loadWindowStart = now;
      this.loadCount = 0;
    }
    this.loadCount++;
    if (this.loadCount > this.loadThreshold) this.underLoadUntil = now + UNDER_LOAD_AFTER_TIME_MS;
  }

  /**
   * Why an initiation timestamp is unacceptable for the node's wall clock, or null when it lies within
   * the window. A broken clock (non-finite) or timestamp fails closed.
   */
  private timestampSkew(timestamp: Uint8Array): string | null {
    const offset = decodeTai64nMs(timestamp) - (this.opts.wallClock ?? Date.now)();
    if (Math.abs(offset) <= this.timestampWindowMs) return null;
    return Number.isFinite(offset)
      ? `initiation timestamp ${Math.round(offset / 1000)} s off the node clock`
      : 'initiation timestamp or node clock unreadable';
  }

  private fail(reason: DropReason, detail?: string): ResponderResult {
    this.drops[reason]++;
    return detail === undefined ? { type: 'error', reason } : { type: 'error', reason, detail };
  }

  /**
   * Handles one datagram from `source`. Order for initiations: structure -> mac1 -> mac2/cookie
   * (under load) -> per-source rate limit -> Diffie-Hellman -> timestamp within the node clock's
   * window -> timestamp replay guard -> per-client-key token bucket -> authorize.
   */
  decapsulate(datagram: Uint8Array, source: PacketSource, out: Buffer, now = this.clock()): ResponderResult {
    if (this.closed) return this.fail('closed');
    if (isDataMessage(datagram)) return this.receiveData(datagram, out, now);
    if (datagram.length < 4) return this.fail('shortPacket');
    switch (messageType(datagram)) {
      case MESSAGE_INITIATION:
        return this.receiveInitiation(datagram, source, now);
      case MESSAGE_DATA:
        return this.fail('shortPacket');
      case MESSAGE_RESPONSE:
      case MESSAGE_COOKIE_REPLY:
        return this.fail('unexpectedMessage');
      default:
        return this.fail(isLegacyHeader(datagram) ? 'legacyVersion' : 'unknownType');
    }
  }

  private receiveData(datagram: Uint8Array, out: Buffer, now: number): ResponderResult {
    const n = this.openDataAt(datagram, out, 0, now);
    if (n < 0) {
      const reason = this.lastDrop as DropReason;
      return { type: 'error', reason };
    }
    const peer = this.lastPeer as ResponderPeer;
    if (n === 0) return { type: 'done', peer };
    return { type: 'writeToTun', data: openedView.view(out, 0, n), peer };
  }

  /**
   * Batch receive without a result object: opens the data message `datagram` into
   * `out[outOffset ..]` (no view of `out` is needed per packet: views are cached by position).
   * Returns the inner packet's length (> 0), 0 for a keepalive, or -1 when the message was dropped
   * (counted in `drops`; `lastDrop` says why). `lastPeer` is the peer the message authenticated for —
   * also on the drops that happen after authentication ('spoofedSource', 'notIP', so the caller can
   * name the session in a log) — and null when nothing authenticated. A message that is not a data
   * message returns NOT_DATA_MESSAGE (-2) and counts nothing: hand it to `decapsulate`.
   * The replay window moves only after the tag verified; the inner source is checked against the
   * peer's assigned addresses (cryptokey routing) before a length >= 0 is returned.
   */
  openDataInto(datagram: Uint8Array, out: Uint8Array, outOffset: number, now = this.clock()): number {
    if (!isDataMessage(datagram)) {
      this.lastPeer = null;
      this.lastDrop = null;
      return NOT_DATA_MESSAGE;
    }
    if (this.closed) {
      this.lastPeer = null;
      return this.dropAt('closed');
    }
    return this.openDataAt(datagram, out, outOffset, now);
  }

  private dropAt(reason: DropReason): number {
    this.drops[reason]++;
    this.lastDrop = reason;
    return -1;
  }

  private openDataAt(datagram: Uint8Array, out: Uint8Array, outOffset: number, now: number): number {
    this.lastPeer = null;
    this.lastDrop = null;
    const index = dataReceiverIndex(datagram);
    const peer = this.indexes.get(index);
    if (peer === undefined) return this.dropAt('unknownIndex');
    const s = peer.session;
    const kp =
      s.current !== null && s.current.localIndex === index
        ? s.current
        : s.next !== null && s.next.localIndex === index
          ? s.next
          : s.previous !== null && s.previous.localIndex === index
            ? s.previous
            : null;
    if (kp === null) return this.dropAt('unknownIndex');
    if (!s.usable(kp, now)) return this.dropAt('expired');
    const n = openData(kp, datagram, out, outOffset);
    if (n < 0) return this.dropAt(transportReason(n));
    s.confirm(kp);
    s.timers.onAuthenticatedReceive(now, n === 0);
    this.lastPeer = peer;
    if (n === 0) return 0;
    // Cryptokey routing: only the addresses this peer was assigned may appear as inner source.
    const source = peer.checkInnerSourceAt(out, outOffset, n);
    if (source !== 'ok') return this.dropAt(source);
    return n;
  }

  /**
   * Batch send without a result object: seals `src[srcOffset .. srcOffset + length)` for `peer` into
   * `out` (header at out[0]). Returns the sealed length, or -1 when dropped (counted; `lastDrop`).
   */
  sealInto(
    peer: ResponderPeer,
    src: Uint8Array,
    srcOffset: number,
    length: number,
    out: Uint8Array,
    now = this.clock(),
  ): number {
    if (this.closed || peer.session.closed) return this.dropAt('closed');
    const kp = peer.session.sendingKeypair(now);
    if (kp === null) return this.dropAt('noSession');
    const n = sealDataFrom(kp, src, srcOffset, length, out);
    if (n < 0) return this.dropAt(transportReason(n));
    peer.session.timers.onDataSent(now, length === 0);
    return n;
  }

  private receiveInitiation(msg: Uint8Array, source: PacketSource, now: number): ResponderResult {
    const parsed = parseInitiation(msg);
    if (!parsed.ok) return this.fail(handshakeReason(parsed.error));
    if (!this.checker.verifyMac1(msg)) return this.fail('badMac1');
    this.countInitiation(now);
    const sourceBytes = Buffer.from(`${source.ip}|${source.port}`, 'utf8');
    // WireGuard's policy: mac2 only matters under load. Not under load it is ignored, so a client
    // still holding a cookie from before a node restart or a roam is not locked out; under load a
    // missing or stale mac2 gets a fresh cookie reply rather than a silent drop.
    if (this.isUnderLoad(now) && this.checker.checkMac2(msg, sourceBytes, now) !== 'valid') {
      this.drops.needsCookie++;
      return {
        type: 'writeToNetwork',
        data: this.checker.createCookieReply(msg, sourceBytes, now),
        peer: null,
      };
    }
    if (!this.rateLimiter.allow(rateLimitKey(source.ip), now)) return this.fail('rateLimited');

    const consumed = consumeInitiation(
      msg,
      this.opts.staticKeys.privateKey,
      this.checker.mac1KeyBuf,
      this.opts.staticKeys.publicKey,
    );
    if (!consumed.ok) return this.fail(handshakeReason(consumed.error));
    const { handshake, payload, senderIndex } = consumed.value;
    const clientKey = consumed.value.clientStaticPublicKey as X25519PublicKey;
    const skew = this.timestampSkew(payload.timestamp);
    if (skew !== null) {
      handshake.wipe();
      return this.fail('clockSkew', skew);
    }
    if (!this.replayGuard.isFresh(clientKey, payload.timestamp)) {
      handshake.wipe();
      return this.fail('staleTimestamp');
    }
    // Only the key holder can produce a fresh timestamp, so this budget is theirs alone.
    if (!this.clientKeyLimiter.allow(clientKey, now)) {
      handshake.wipe();
      return this.fail('clientKeyRateLimited');
    }
    let auth: AuthorizeResult;
    try {
      auth = this.opts.authorize(payload.ticket, clientKey, payload.options);
    } catch {
      auth = { ok: false, reason: 'authorize threw' };
    }
    if (!auth.ok) {
      handshake.wipe();
      return this.fail('badTicket', auth.reason);
    }
    const id = clientKey.toString('base64url');
    let peer = this.peers.get(id);
    if (peer === undefined && this.peers.size >= (this.opts.maxPeers ?? 65_536)) {
      handshake.wipe();
      return this.fail('capacity');
    }
    if (peer === undefined) {
      peer = new ResponderPeer(id, auth.params, new Session(false, this.retireKeypair, this.limits));
    }
    const localIndex = this.indexes.allocate(peer);
    if (localIndex === null) {
      handshake.wipe();
      return this.fail('capacity');
    }
    const response = createResponse({
      handshake,
      senderIndex: localIndex,
      receiverIndex: senderIndex,
      clientStaticPublicKey: clientKey,
      params: auth.params,
    });
    if (!response.ok) {
      this.indexes.release(localIndex);
      return this.fail(handshakeReason(response.error));
    }
    // Only now, with the ticket accepted, does the client enter the replay guard.
    this.replayGuard.accept(clientKey, payload.timestamp);
    this.peers.set(id, peer);
    peer.params = auth.params;
    const kp = keypairFrom(response.value.keys, localIndex, senderIndex, now, false, this.limits);
    wipeBytes(response.value.keys.handshakeHash);
    peer.session.installAsResponder(kp, now);
    peer.session.timers.onDataSent(now, true);
    return { type: 'writeToNetwork', data: response.value.message, peer };
  }

  /** Seals a TUN packet for `peer` into `out` (see the buffer contract at the top of this file). */
  encapsulate(peer: ResponderPeer, packet: Uint8Array, out: Buffer, now = this.clock()): TunnelResult {
    if (this.closed || peer.session.closed) return drop(this, 'closed');
    const kp = peer.session.sendingKeypair(now);
    if (kp === null) return drop(this, 'noSession');
    const n = sealData(kp, packet, out);
    if (n < 0) return drop(this, transportReason(n));
    peer.session.timers.onDataSent(now, packet.length === 0);
    return { type: 'writeToNetwork', data: sealedView.view(out, 0, n) };
  }

  /**
   * Timer loop for all peers: keepalives to send, and peers whose session died (reported once with
   * reason 'expired', then removed and wiped). Only actions are listed; idle peers are omitted.
   */
  updateTimers(now = this.clock()): PeerTimerResult[] {
    const results: PeerTimerResult[] = [];
    if (this.closed) return results;
    // Full buckets carry no information: sweeping them once a second keeps the handshake limiters'
    // memory proportional to clients that initiated recently, not to every client ever seen.
    if (now - this.lastLimiterSweepAt >= LIMITER_SWEEP_INTERVAL_MS) {
      this.lastLimiterSweepAt = now;
      this.rateLimiter.collect(now);
      this.clientKeyLimiter.collect(now);
    }
    for (const peer of this.peers.values()) {
      const action = peer.session.timerAction(now);
      if (action === 'sessionDead') {
        this.removePeer(peer);
        this.drops.expired++;
        results.push({ peer, result: { type: 'error', reason: 'expired' } });
      } else if (action === 'sendKeepalive') {
        const kp = peer.session.sendingKeypair(now);
        if (kp === null) continue;
        const keepalive = Buffer.alloc(KEEPALIVE_BYTES);
        const n = sealData(kp, keepalive.subarray(0, 0), keepalive);
        if (n < 0) continue;
        peer.session.timers.onDataSent(now, true);
        results.push({ peer, result: { type: 'writeToNetwork', data: keepalive } });
      }
    }
    return results;
  }

  /**
   * Forgets `peer` and wipes its keys (e.g. ticket revoked, quota exhausted). Idempotent, and acts on
   * that very object only: once a peer was removed (or died), the same client's next handshake makes
   * a new ResponderPeer with the same `id`, which a late or repeated removal of the old object leaves
   * alone.
   */
  removePeer(peer: ResponderPeer): void {
    peer.session.close();
    if (this.peers.get(peer.id) === peer) this.peers.delete(peer.id);
  }

  close(): void {
    for (const peer of [...this.peers.values()]) this.removePeer(peer);
    this.checker.wipe();
    this.closed = true;
  }
}
