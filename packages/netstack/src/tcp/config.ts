// TCP tunables (per stack) with their defaults. Times in milliseconds, sizes in bytes.
import type { CongestionControlName } from './congestion/index.js';
import { RTO_INITIAL_MS, RTO_MAX_MS, RTO_MIN_MS } from './rtt.js';

export interface TcpConfig {
  /** 'cubic' (default) or 'newreno'. */
  congestionControl: CongestionControlName;
  /** Receive buffer per connection (the largest window we advertise). */
  recvBufferSize: number;
  /** Send buffer per connection (bytes queued and not yet acknowledged). */
  sendBufferSize: number;
  /** RFC 7323 timestamps (RTT samples, PAWS). */
  timestamps: boolean;
  /** RFC 2018 selective acknowledgements. */
  sack: boolean;
  /** RFC 7323 window scaling (needed for windows above 64 KiB). */
  windowScaling: boolean;
  /** SYN cookies: 'auto' when the backlog is full, 'always', or 'never' (drop when full). */
  synCookies: 'auto' | 'always' | 'never';
  /** Half-open connections (SYN-RECEIVED) per listener before cookies/drops start. */
  synBacklog: number;
  /** Established connections waiting for accept() per listener. */
  acceptBacklog: number;
  /** SYN retransmissions before connect() fails with ETIMEDOUT. */
  synRetries: number;
  /** SYN-ACK retransmissions before a half-open connection is dropped. */
  synAckRetries: number;
  /** Consecutive data/FIN retransmission timeouts before the connection is aborted (ETIMEDOUT). */
  maxRetransmits: number;
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  /** Delayed-ACK timeout (RFC 9293: < 500 ms; Linux uses 40 ms). */
  delayedAckMs: number;
  /** 2 * MSL. */
  timeWaitMs: number;
  /** How long FIN-WAIT-2 waits for the peer's FIN once the application has closed. */
  finWait2TimeoutMs: number;
  /** How long an accept-any request may wait for accept()/reject() before it is reset. */
  requestTimeoutMs: number;
  keepAliveIdleMs: number;
  keepAliveIntervalMs: number;
  keepAliveCount: number;
  /** Out-of-order ranges tracked per connection (the assembler). */
  maxOutOfOrderRanges: number;
  /** SACK ranges kept per connection on the sender side. */
  maxSackRanges: number;
  /** Challenge ACKs per second for the whole stack (RFC 5961 section 7). */
  challengeAckPerSecond: number;
  /** Clamp for the MSS we advertise and use (0 = derive from the MTU only). */
  mssClamp: number;
}

export const DEFAULT_TCP_CONFIG: TcpConfig = {
  congestionControl: 'cubic',
  recvBufferSize: 1024 * 1024,
  sendBufferSize: 1024 * 1024,
  timestamps: true,
  sack: true,
  windowScaling: true,
  synCookies: 'auto',
  synBacklog: 1024,
  acceptBacklog: 1024,
  synRetries: 6,
  synAckRetries: 5,
  maxRetransmits: 15,
  initialRtoMs: RTO_INITIAL_MS,
  minRtoMs: RTO_MIN_MS,
  maxRtoMs: RTO_MAX_MS,
  delayedAckMs: 40,
  timeWaitMs: 60_000,
  finWait2TimeoutMs: 60_000,
  requestTimeoutMs: 20_000,
  keepAliveIdleMs: 7_200_000,
  keepAliveIntervalMs: 75_000,
  keepAliveCount: 9,
  maxOutOfOrderRanges: 32,
  maxSackRanges: 32,
  challengeAckPerSecond: 1000,
  mssClamp: 0,
};

/** The window scale shift that lets `bufferSize` be advertised (RFC 7323, at most 14). */
export function windowScaleFor(bufferSize: number): number {
  let s = 0;
  while (s < 14 && bufferSize >>> s > 0xffff) s++;
  return s;
}
