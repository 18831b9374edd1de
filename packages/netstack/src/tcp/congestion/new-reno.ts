// NewReno congestion control (RFC 5681 with Appropriate Byte Counting, RFC 3465; recovery itself is in
// the TCB). Slow start grows cwnd by the bytes acknowledged (at most 2 SMSS per ACK); congestion
// avoidance by one SMSS per cwnd of acknowledged bytes.
import { INITIAL_WINDOW_SEGMENTS, type CongestionControl } from './congestion-control.js';

export class NewReno implements CongestionControl {
  readonly name = 'newreno';
  cwnd: number;
  ssthresh = Number.MAX_SAFE_INTEGER;
  private bytesAcked = 0;

  constructor(
    public mss: number,
    readonly maxCwnd = 64 * 1024 * 1024,
  ) {
    this.cwnd = INITIAL_WINDOW_SEGMENTS * mss;
  }

  onAck(acked: number, _now: number, _rtt: number): void {
    if (this.cwnd < this.ssthresh) {
      this.cwnd += Math.min(acked, 2 * this.mss);
    } else {
      this.bytesAcked += acked;
      if (this.bytesAcked >= this.cwnd) {
        this.bytesAcked -= this.cwnd;
        this.cwnd += this.mss;
      }
    }
    if (this.cwnd > this.maxCwnd) this.cwnd = this.maxCwnd;
  }

  onCongestion(_now: number, flight: number): void {
    this.ssthresh = Math.max(flight / 2, 2 * this.mss);
    this.bytesAcked = 0;
  }

  onRecoveryEnd(_now: number): void {
    this.cwnd = this.ssthresh;
  }

  onTimeout(_now: number, flight: number): void {
    this.ssthresh = Math.max(flight / 2, 2 * this.mss);
    this.cwnd = this.mss;
    this.bytesAcked = 0;
  }

  onIdle(_now: number, _rto: number): void {
    this.cwnd = Math.min(this.cwnd, INITIAL_WINDOW_SEGMENTS * this.mss);
  }
}
