/**
 * Tcb: one TCP connection (RFC 9293 transmission control block) — the engine's unit of state.
 *
 * Who calls what:
 *   - The Stack owns every Tcb: it finds it by 4-tuple and calls `tcpInput` (tcp-input.ts) for each
 *     arriving segment, `onTimer(now)` when the timer heap says so, and `tcpOutput` (tcp-output.ts)
 *     from poll() for connections marked dirty. Segments leave through the TcpHost (the Stack), which
 *     builds the packet in its scratch buffer and hands it to the caller's sink.
 *   - The application (directly, or through the Node-style TcpSocket) calls send/recv/shutdown/close/
 *     abort. These only change buffers and flags and mark the Tcb dirty; nothing is transmitted until
 *     the Stack's next poll(). They never throw on a closed connection: send returns 0, recv 0.
 *   - Events (EV_* bits) are collected while input/timers/output run and handed to the handler from
 *     poll(), never from inside segment processing, so a handler may call back into the Tcb freely.
 *
 * Buffers: data is copied into the send ring by send() and out of the receive ring by recv(); the
 * rings take storage from the stack's pools on first use and give it back when empty, so an idle
 * connection holds none. Out-of-order data is written into the receive ring at its offset and tracked
 * by the Assembler (bounded ranges); the SACK scoreboard is bounded too.
 *
 * Lifetime: a Tcb ends in CLOSED (removed from the table, buffers released, EV_CLOSED with `error`
 * set when abnormal) or passes through TIME-WAIT (EV_CLOSED on entry, removed after timeWaitMs).
 * After EV_CLOSED, unread received data stays readable with recv() until the Tcb is released.
 */
import type { DropCounters } from '../drop-reasons.js';
import type { IpAddr } from '../wire/address.js';
import { Assembler } from './assembler.js';
import type { BufferPool } from './buffer-pool.js';
import { createCongestionControl, type CongestionControl } from './congestion/index.js';
import type { TcpConfig } from './config.js';
import { RingBuffer } from './ring-buffer.js';
import { RttEstimator } from './rtt.js';
import { SackScoreboard } from './sack-scoreboard.js';
import { seqAdd, seqDiff, seqLt } from './seq.js';

export const TcpState = {
  CLOSED: 0,
  LISTEN: 1,
  SYN_SENT: 2,
  SYN_RECEIVED: 3,
  ESTABLISHED: 4,
  FIN_WAIT_1: 5,
  FIN_WAIT_2: 6,
  CLOSE_WAIT: 7,
  CLOSING: 8,
  LAST_ACK: 9,
  TIME_WAIT: 10,
} as const;
export type TcpStateValue = (typeof TcpState)[keyof typeof TcpState];

export const TCP_STATE_NAMES = [
  'CLOSED',
  'LISTEN',
  'SYN-SENT',
  'SYN-RECEIVED',
  'ESTABLISHED',
  'FIN-WAIT-1',
  'FIN-WAIT-2',
  'CLOSE-WAIT',
  'CLOSING',
  'LAST-ACK',
  'TIME-WAIT',
] as const;
export type TcpStateName = (typeof TCP_STATE_NAMES)[number];

/** Event bits delivered to a TcpHandler from poll(). */
export const EV_CONNECTED = 1; // handshake complete
export const EV_READABLE = 2; // new in-order data (or EOF) can be recv()'d
export const EV_WRITABLE = 4; // send-buffer space was freed
export const EV_EOF = 8; // the peer's FIN arrived after all its data
export const EV_CLOSED = 16; // the connection is over (see `error`)

/** Why a connection ended abnormally (the names Node uses for the same failures). */
export type TcpError =
  'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'EHOSTUNREACH' | 'ENETUNREACH' | 'ECONNABORTED';

/** Loss-recovery state of the sender. */
export const Recovery = { OPEN: 0, RECOVERY: 1, LOSS: 2 } as const;
export type RecoveryValue = (typeof Recovery)[keyof typeof Recovery];

export interface TcpHandler {
  onTcpEvents(tcb: Tcb, events: number): void;
}

export interface TcpCounters {
  segmentsIn: number;
  segmentsOut: number;
  bytesIn: number;
  bytesOut: number;
  retransmits: number;
  fastRetransmits: number;
  rtoTimeouts: number;
  activeOpens: number;
  passiveOpens: number;
  resetsSent: number;
  resetsReceived: number;
  challengeAcks: number;
  synCookiesSent: number;
  synCookiesAccepted: number;
  zeroWindowProbes: number;
  keepAliveProbes: number;
  tailLossProbes: number;
  lostRetransmits: number;
  spuriousRtos: number;
}

export function newTcpCounters(): TcpCounters {
  return {
    segmentsIn: 0,
    segmentsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    retransmits: 0,
    fastRetransmits: 0,
    rtoTimeouts: 0,
    activeOpens: 0,
    passiveOpens: 0,
    resetsSent: 0,
    resetsReceived: 0,
    challengeAcks: 0,
    synCookiesSent: 0,
    synCookiesAccepted: 0,
    zeroWindowProbes: 0,
    keepAliveProbes: 0,
    tailLossProbes: 0,
    lostRetransmits: 0,
    spuriousRtos: 0,
  };
}

/** What a Tcb needs from its Stack. */
export interface TcpHost {
  readonly tcp: TcpConfig;
  readonly drops: DropCounters;
  readonly tcpCounters: TcpCounters;
  readonly sendPool: BufferPool;
  readonly recvPool: BufferPool;
  /** Queue the Tcb for event delivery and output at the next poll(). */
  markDirty(tcb: Tcb): void;
  /** The Tcb's earliest deadline moved earlier (or was set): requeue it in the timer heap. */
  timerChanged(tcb: Tcb, at: number): void;
  /** Builds and sends one segment of `tcb` (see tcp-output.ts for the fields it reads). */
  emitSegment(tcb: Tcb, seq: number, flags: number, dataLen: number, now: number): void;
  /** The Tcb reached CLOSED: take it out of the table, timers and listener accounting. */
  tcbClosed(tcb: Tcb): void;
  /** The Tcb entered TIME-WAIT (the stack may reuse its slot when the table is full). */
  timeWaitEntered(tcb: Tcb): void;
  /** A passively opened Tcb completed its handshake: queue it on its listener. */
  tcbEstablished(tcb: Tcb): void;
  /** Timestamp clock value (ms, 32-bit) for `now`. */
  tsClock(now: number): number;
  /** The stack clock (ms): the time of the current input/poll, or now for API calls. */
  now(): number;
  /** send() was cut short by the memory budget: signal EV_WRITABLE once memory is freed. */
  waitForMemory(tcb: Tcb): void;
  /** Spends one challenge ACK from the stack-wide budget; false when spent (RFC 5961 section 7). */
  takeChallengeAck(now: number): boolean;
}

let nextId = 1;

export class Tcb {
  readonly id = nextId++;
  // ---- identity (FlowEntry) ----
  tableNext: Tcb | null = null;
  tableHash = 0;
  inTable = false;
  // ---- timer heap ----
  heapKey = Infinity;
  heapIndex = -1;
  // ---- dirty list ----
  dirty = false;
  events = 0;
  handler: TcpHandler | null = null;
  /** Opaque slot for the owner (the Node-style socket keeps itself here). */
  owner: unknown = null;
  /** The listener that created this Tcb (passive open), else null. */
  listener: unknown = null;
  /** Accept-any: SYN-ACK withheld until the application accepts. */
  held = false;
  /** Passive open by a SYN cookie (no SYN-RECEIVED state was kept). */
  fromCookie = false;
  /** Handed to the application (listener accept() / accept-any request taken). */
  accepted = false;
  /** Counted in its listener's half-open (SYN-RECEIVED) total. */
  halfOpen = false;

  state: TcpStateValue = TcpState.CLOSED;
  error: TcpError | null = null;
  /** Last ICMP soft error (reported instead of ETIMEDOUT, as Linux does). */
  softError: TcpError | null = null;
  closedEmitted = false;

  // ---- send sequence space ----
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  /** Peer's window in bytes (scaled). */
  sndWnd = 0;
  maxSndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  /** Peer's window-scale shift (applied to windows it sends). */
  sndWscale = 0;
  /** Payload bytes per segment we send (peer's MSS, path MTU, minus option overhead). */
  sndMss = 536;
  /** Sequence number of the first byte in sndBuf. */
  sndBufSeq = 0;
  readonly sndBuf: RingBuffer;
  finQueued = false;
  finSent = false;
  /** Sequence number the FIN occupies (valid once finQueued). */
  finSeq = 0;
  noDelay = false;
  /** End of the last sub-MSS segment sent (Minshall's Nagle: at most one small segment in flight). */
  sndSmallEnd = 0;

  // ---- receive sequence space ----
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the window last advertised (never moved left). */
  rcvAdv = 0;
  /** Our window-scale shift (applied to windows we send). */
  rcvWscale = 0;
  /** MSS we advertised (largest segment we expect). */
  rcvMss = 536;
  readonly rcvBuf: RingBuffer;
  readonly assembler: Assembler;
  finReceived = false;
  /** An out-of-order FIN's sequence number, or -1. */
  pendingFin = -1;
  /** The application will not read any more (close()): more data draws a RST. */
  rcvClosed = false;

  // ---- options ----
  /** Window scaling negotiated (both SYNs carried the option). */
  wsEnabled = false;
  tsEnabled = false;
  tsRecent = 0;
  tsRecentAt = 0;
  /** Per-connection offset added to our timestamp clock (RFC 7323 section 7.1). */
  tsOffset = 0;
  sackEnabled = false;
  /** Last ACK number we sent (RFC 7323 TS.Recent update rule). */
  lastAckSent = 0;

  // ---- ACK generation ----
  ackNow = false;
  /** Full-sized segments received since the last ACK we sent. */
  unackedSegments = 0;
  /** Send a SYN or SYN-ACK at the next output. */
  needSyn = false;
  /** Send a window probe / keepalive probe at the next output. */
  needProbe = false;
  needRst = false;

  // ---- timers (absolute ms; Infinity = off) ----
  rtoAt = Infinity;
  /** Tail loss probe timeout (RFC 8985 section 7). */
  ptoAt = Infinity;
  persistAt = Infinity;
  delAckAt = Infinity;
  keepAliveAt = Infinity;
  /** TIME-WAIT expiry, FIN-WAIT-2 timeout, or the accept-any request timeout. */
  lingerAt = Infinity;
  lastRecvAt = 0;
  lastSendAt = 0;

  // ---- RTT / retransmission ----
  readonly rtt: RttEstimator;
  /** RTT timing without timestamps: end sequence of the timed segment, its send time. */
  timing = false;
  timedSeq = 0;
  timedAt = 0;
  /** A tail loss probe was sent and not yet answered by an ACK of new data. */
  tlpOutstanding = false;
  /** SND.NXT when the probe went out: SACK of the probe means the holes below it were lost. */
  tlpEnd = 0;
  /** Send a tail loss probe at the next output. */
  needTlp = false;
  /**
   * Eifel detection (RFC 3522): our TSval when the first RTO of an episode retransmitted, 0 when not
   * armed; the cwnd/ssthresh to restore if the timeout turns out spurious (RFC 4015).
   */
  eifelTs = 0;
  undoCwnd = 0;
  undoSsthresh = 0;
  /** SND.NXT right after the latest retransmission (lost-retransmission detection). */
  rtxLastNxt = 0;
  /** Consecutive RTO expirations (reset by an ACK of new data). */
  retransmitCount = 0;
  /** Exponent of the persist timer's backoff (reset when the peer acknowledges new data). */
  persistBackoff = 0;
  /**
   * Window probes the peer has not answered (reset by any acceptable segment): the give-up count.
   * RFC 9293 3.8.6.1: a peer that keeps answering probes keeps the connection open however long its
   * window stays closed.
   */
  persistUnanswered = 0;
  /** When this connection last sent (or was refused) a challenge ACK (RFC 5961; per-connection limit). */
  lastChallengeAckAt = -Infinity;
  keepAliveProbes = 0;
  keepAliveEnabled = false;
  keepAliveIdleMs: number;

  // ---- congestion control and loss recovery ----
  cc: CongestionControl;
  recovery: RecoveryValue = Recovery.OPEN;
  /** SND.NXT when recovery began (RFC 6582 "recover"). */
  recoverSeq = 0;
  /** Highest sequence retransmitted in this recovery episode (RFC 6675 HighRxt). */
  highRxt = 0;
  /** Bytes below which un-SACKed data is considered lost (RFC 6675 IsLost boundary). */
  lossEnd = 0;
  dupAcks = 0;
  /** Without SACK: duplicate ACKs counted as "segments that left the network" (Linux's reno sacks). */
  renoSacked = 0;
  readonly scoreboard: SackScoreboard;
  // PRR (RFC 6937)
  prrDelivered = 0;
  prrOut = 0;
  recoverFs = 0;
  /** Bytes the sender may still send in this ACK's PRR allowance. */
  prrBudget = 0;

  // ---- statistics ----
  bytesReceived = 0;
  bytesSent = 0;
  segmentsRetransmitted = 0;

  constructor(
    readonly host: TcpHost,
    readonly local: IpAddr,
    readonly localPort: number,
    readonly remote: IpAddr,
    readonly remotePort: number,
  ) {
    const cfg = host.tcp;
    this.sndBuf = new RingBuffer(host.sendPool);
    this.rcvBuf = new RingBuffer(host.recvPool);
    this.assembler = new Assembler(cfg.maxOutOfOrderRanges);
    this.scoreboard = new SackScoreboard(cfg.maxSackRanges);
    this.rtt = new RttEstimator(cfg.minRtoMs, cfg.maxRtoMs, cfg.initialRtoMs);
    this.cc = createCongestionControl(cfg.congestionControl, this.sndMss);
    this.keepAliveIdleMs = cfg.keepAliveIdleMs;
  }

  get family(): 4 | 6 {
    return this.local.family;
  }

  get stateName(): TcpStateName {
    return TCP_STATE_NAMES[this.state];
  }

  /** Synchronized states (RFC 9293): ESTABLISHED and later, except CLOSED. */
  get isSynchronized(): boolean {
    return this.state >= TcpState.ESTABLISHED;
  }

  // ---------------------------------------------------------------- application interface

  /** Bytes that recv() can return now. */
  get readableLength(): number {
    return this.rcvBuf.length;
  }

  /** Bytes send() can accept now (0 once the send side is shut down or the connection is over). */
  get writableLength(): number {
    return this.canSend() ? this.sndBuf.free : 0;
  }

  /** All data the peer will ever send has been recv()'d: the FIN arrived and the buffer is empty. */
  get eof(): boolean {
    return this.finReceived && this.rcvBuf.length === 0;
  }

  /** Bytes queued but not yet acknowledged. */
  get sendQueueLength(): number {
    return this.sndBuf.length;
  }

  private canSend(): boolean {
    const s = this.state;
    return (
      !this.finQueued &&
      (s === TcpState.ESTABLISHED ||
        s === TcpState.CLOSE_WAIT ||
        s === TcpState.SYN_SENT ||
        s === TcpState.SYN_RECEIVED)
    );
  }

  /** Queues up to `len` bytes of src[off..] for sending; returns how many were taken (copied). */
  send(src: Uint8Array, off: number, len: number): number {
    if (!this.canSend() || len <= 0) return 0;
    const n = this.sndBuf.write(src, off, len);
    if (n > 0) this.host.markDirty(this);
    // Short of the buffer's own space: the stack's memory budget is spent. EV_WRITABLE follows when
    // memory is freed anywhere (this connection may have nothing in flight to free it itself).
    if (n < len && this.sndBuf.free > 0) this.host.waitForMemory(this);
    return n;
  }

  /** Copies up to `len` received bytes into dst[off..] and consumes them; returns the count. */
  recv(dst: Uint8Array, off: number, len: number): number {
    const before = this.rcvBuf.length;
    const n = this.rcvBuf.read(dst, off, len);
    if (n > 0) this.afterRead(before);
    return n;
  }

  /** Discards up to `len` received bytes (as recv without the copy). */
  skip(len: number): number {
    const before = this.rcvBuf.length;
    const n = Math.min(len, before);
    this.rcvBuf.consume(n);
    if (n > 0) this.afterRead(before);
    return n;
  }

  /** Copies up to `len` unread bytes starting `offset` bytes in, without consuming them. */
  peek(offset: number, dst: Uint8Array, dstOff: number, len: number): number {
    const n = Math.max(0, Math.min(len, this.rcvBuf.length - offset));
    this.rcvBuf.peek(offset, dst, dstOff, n);
    return n;
  }

  private afterRead(before: number): void {
    if (!this.isSynchronized || this.state === TcpState.TIME_WAIT) return;
    // Receiver SWS avoidance (RFC 9293 3.8.6.2.2): announce the reopened window once the right edge
    // can move by at least min(half the buffer, one MSS) — the same rule the window field follows.
    const cap = this.rcvBuf.capacity;
    const advertised = seqDiff(this.rcvAdv, this.rcvNxt);
    const possible = Math.min(cap - this.rcvBuf.length, 0xffff << this.rcvWscale);
    const growth = possible - advertised;
    if (growth > 0 && growth >= Math.min(cap >>> 1, this.rcvMss) && before > 0) {
      this.ackNow = true;
      this.host.markDirty(this);
    }
  }

  /** Half-close: a FIN follows the queued data. Idempotent. */
  shutdown(): void {
    if (this.finQueued) return;
    switch (this.state) {
      case TcpState.SYN_SENT:
      case TcpState.SYN_RECEIVED:
        // RFC 9293: queued until ESTABLISHED; the FIN then follows the queued data (FIN-WAIT-1).
        this.finQueued = true;
        this.finSeq = seqAdd(this.sndBufSeq, this.sndBuf.length);
        break;
      case TcpState.ESTABLISHED:
        this.finQueued = true;
        this.finSeq = seqAdd(this.sndBufSeq, this.sndBuf.length);
        this.state = TcpState.FIN_WAIT_1;
        break;
      case TcpState.CLOSE_WAIT:
        this.finQueued = true;
        this.finSeq = seqAdd(this.sndBufSeq, this.sndBuf.length);
        this.state = TcpState.LAST_ACK;
        break;
      default:
        return;
    }
    this.host.markDirty(this);
  }

  /**
   * Full close: shutdown() and stop receiving. Unread data, or data arriving later, makes it an abort
   * (RST), as RFC 2525 section 2.17 and Linux do. The Tcb lingers in the stack (FIN-WAIT, TIME-WAIT)
   * on its own; the handler gets EV_CLOSED when it is over.
   */
  close(): void {
    this.rcvClosed = true;
    if (this.state === TcpState.SYN_SENT) {
      // RFC 9293: closing in SYN-SENT deletes the connection.
      this.terminate(null);
      return;
    }
    if (this.rcvBuf.length > 0 && this.isSynchronized && this.state !== TcpState.TIME_WAIT) {
      this.abort();
      return;
    }
    if (this.state === TcpState.FIN_WAIT_2 && this.lingerAt === Infinity) {
      this.setLinger(this.lastRecvAt + this.host.tcp.finWait2TimeoutMs);
    }
    this.shutdown();
  }

  /** Abortive close: RST to the peer (when synchronized) and CLOSED now. */
  abort(): void {
    const s = this.state;
    if (s === TcpState.CLOSED) return;
    if (s === TcpState.TIME_WAIT) {
      this.terminate(null);
      return;
    }
    if (s !== TcpState.SYN_SENT && !(s === TcpState.SYN_RECEIVED && this.held)) {
      // <SEQ=SND.NXT><CTL=RST> (RFC 9293), with the ACK bit as Linux sends it.
      this.host.emitSegment(this, this.sndNxt, 0x14 /* RST|ACK */, 0, this.host.now());
      this.host.tcpCounters.resetsSent++;
    }
    this.terminate(null);
  }

  setNoDelay(on: boolean): void {
    this.noDelay = on;
    if (on) this.host.markDirty(this);
  }

  setKeepAlive(on: boolean, idleMs?: number): void {
    this.keepAliveEnabled = on;
    if (idleMs !== undefined && idleMs > 0) this.keepAliveIdleMs = idleMs;
    this.keepAliveProbes = 0;
    if (on && this.isSynchronized) this.setKeepAliveTimer(this.lastRecvAt + this.keepAliveIdleMs);
    else this.keepAliveAt = Infinity;
  }

  // ---------------------------------------------------------------- engine helpers

  /**
   * Sets the send sequence space from our ISN. `synAcked` for SYN-cookie connections, whose SYN-ACK
   * the peer has already acknowledged.
   */
  initSend(iss: number, synAcked: boolean): void {
    this.iss = iss;
    const first = seqAdd(iss, 1);
    this.sndUna = synAcked ? first : iss;
    this.sndNxt = first;
    this.sndBufSeq = first;
    this.sndSmallEnd = first;
    this.sndWl2 = first;
    this.highRxt = first;
    this.lossEnd = first;
    this.recoverSeq = first;
    this.rtxLastNxt = first;
  }

  /** Raises event bits for the handler and queues the Tcb for delivery at poll(). */
  signal(ev: number): void {
    this.events |= ev;
    this.host.markDirty(this);
  }

  /** Ends the connection: CLOSED, EV_CLOSED (with `error`), out of the table. Idempotent. */
  terminate(error: TcpError | null): void {
    if (this.state === TcpState.CLOSED && !this.inTable) return;
    this.state = TcpState.CLOSED;
    if (error !== null && this.error === null) this.error = error;
    this.rtoAt = this.ptoAt = this.persistAt = this.delAckAt = this.keepAliveAt = this.lingerAt = Infinity;
    this.sndBuf.release();
    this.assembler.clear();
    this.rcvBuf.beyondEnd = false;
    // Unread in-order data stays until the owner reads it or releases the Tcb.
    if (this.handler === null) this.rcvBuf.release();
    if (!this.closedEmitted) {
      this.closedEmitted = true;
      this.signal(EV_CLOSED);
    }
    this.host.tcbClosed(this);
  }

  /** Drops everything the Tcb still holds (the owner is done with it). */
  release(): void {
    this.handler = null;
    this.owner = null;
    this.rcvBuf.release();
    this.sndBuf.release();
  }

  /** Enters TIME-WAIT: the application is done; only the 2MSL wait remains. */
  enterTimeWait(now: number): void {
    this.state = TcpState.TIME_WAIT;
    this.rtoAt = this.ptoAt = this.persistAt = this.keepAliveAt = Infinity;
    this.sndBuf.release();
    this.assembler.clear();
    this.rcvBuf.beyondEnd = false;
    this.setLinger(now + this.host.tcp.timeWaitMs);
    this.host.timeWaitEntered(this);
    if (!this.closedEmitted) {
      this.closedEmitted = true;
      this.signal(EV_CLOSED);
    }
  }

  setRto(at: number): void {
    this.rtoAt = at;
    if (at < this.heapKey) this.host.timerChanged(this, at);
  }

  setPto(at: number): void {
    this.ptoAt = at;
    if (at < this.heapKey) this.host.timerChanged(this, at);
  }

  setPersist(at: number): void {
    this.persistAt = at;
    if (at < this.heapKey) this.host.timerChanged(this, at);
  }

  setDelAck(at: number): void {
    this.delAckAt = at;
    if (at < this.heapKey) this.host.timerChanged(this, at);
  }

  setKeepAliveTimer(at: number): void {
    this.keepAliveAt = at;
    if (at < this.heapKey) this.host.timerChanged(this, at);
  }

  setLinger(at: number): void {
    this.lingerAt = at;
    if (at < this.heapKey) this.host.timerChanged(this, at);
  }

  /** The earliest of all armed timers (Infinity when none). */
  nextTimer(): number {
    let t = this.rtoAt;
    if (this.ptoAt < t) t = this.ptoAt;
    if (this.persistAt < t) t = this.persistAt;
    if (this.delAckAt < t) t = this.delAckAt;
    if (this.keepAliveAt < t) t = this.keepAliveAt;
    if (this.lingerAt < t) t = this.lingerAt;
    return t;
  }

  /** Bytes sent and not yet cumulatively acknowledged (SYN/FIN included). */
  get flightSize(): number {
    return seqDiff(this.sndNxt, this.sndUna);
  }

  /** Sequence number just past the queued data (where a FIN would go). */
  get sndBufEnd(): number {
    return seqAdd(this.sndBufSeq, this.sndBuf.length);
  }

  /**
   * RFC 6675 pipe: bytes believed to be in the network = outstanding - SACKed - lost + retransmitted
   * (lost bytes below lossEnd not yet retransmitted do not count; retransmitted ones do).
   */
  pipe(): number {
    const una = this.sndUna;
    const outstanding = seqDiff(this.sndNxt, una);
    if (outstanding <= 0) return 0;
    const sb = this.scoreboard;
    let sacked: number;
    if (this.sackEnabled) sacked = sb.sackedBytes;
    else sacked = Math.min(this.renoSacked * this.sndMss, Math.max(0, outstanding - this.sndMss));
    let lost = 0;
    let rtx = 0;
    if (seqLt(una, this.lossEnd)) {
      const lossEnd = this.lossEnd;
      lost = seqDiff(lossEnd, una) - (this.sackEnabled ? sb.sackedIn(una, lossEnd) : 0);
      const r = seqLt(this.highRxt, lossEnd) ? this.highRxt : lossEnd;
      if (seqLt(una, r)) rtx = seqDiff(r, una) - (this.sackEnabled ? sb.sackedIn(una, r) : 0);
    }
    const p = outstanding - sacked - lost + rtx;
    return p > 0 ? p : 0;
  }

  /** Our timestamp value for `now`. */
  tsVal(now: number): number {
    return (this.host.tsClock(now) + this.tsOffset) >>> 0;
  }

  /** MSS changes (handshake, PMTU): keep congestion control in step. */
  setSendMss(mss: number): void {
    this.sndMss = mss;
    const cc = this.cc;
    if (cc.cwnd < mss) cc.cwnd = mss;
    cc.mss = mss;
  }

  /** Replaces the congestion controller once the MSS is known (after the handshake). */
  resetCongestion(): void {
    this.cc = createCongestionControl(this.host.tcp.congestionControl, this.sndMss);
  }
}
