// The congestion-control seam. The TCB owns loss detection and recovery (dupacks, SACK, PRR, RTO);
// an algorithm only decides cwnd and ssthresh at these events. Windows are in bytes.
//
//   onAck(acked, now, rtt)        new data acknowledged outside recovery (slow start / avoidance)
//   onCongestion(now, flight)     a loss detected by dupacks or SACK: set ssthresh (fast recovery)
//   onRecoveryEnd(now)            recovery finished (cumulative ACK past the recovery point)
//   onTimeout(now, flight)        retransmission timeout: ssthresh as for a loss, cwnd = loss window
//   onIdle(now, rto)              restart after an idle period (RFC 5681 section 4.1)
export interface CongestionControl {
  readonly name: string;
  /** Sender MSS (bytes); updated by the TCB when the MSS changes (handshake, PMTU). */
  mss: number;
  cwnd: number;
  ssthresh: number;
  onAck(acked: number, now: number, rtt: number): void;
  onCongestion(now: number, flight: number): void;
  onRecoveryEnd(now: number): void;
  onTimeout(now: number, flight: number): void;
  onIdle(now: number, rto: number): void;
}

export type CongestionControlName = 'newreno' | 'cubic';

/** RFC 6928 initial window: 10 segments. */
export const INITIAL_WINDOW_SEGMENTS = 10;
