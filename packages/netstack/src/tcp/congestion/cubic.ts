// CUBIC congestion control (RFC 9438). Window growth is a cubic function of the time since the last
// congestion event, anchored at W_max, with the Reno-friendly estimate as a floor; beta = 0.7,
// C = 0.4, fast convergence on. Slow start as NewReno. Internally in segments (float), cwnd in bytes.
import { INITIAL_WINDOW_SEGMENTS, type CongestionControl } from './congestion-control.js';

export const CUBIC_BETA = 0.7;
export const CUBIC_C = 0.4;
const ALPHA_RENO = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

export class Cubic implements CongestionControl {
  readonly name = 'cubic';
  cwnd: number;
  ssthresh = Number.MAX_SAFE_INTEGER;
  /** W_max in segments. */
  wMax = 0;
  private k = 0;
  /** Start of the current congestion-avoidance epoch (ms), -1 when none. */
  private epochStart = -1;
  /** Reno-friendly estimate W_est, in segments. */
  private wEst = 0;
  private cwndSeg = 0;

  constructor(
    public mss: number,
    readonly maxCwnd = 64 * 1024 * 1024,
  ) {
    this.cwnd = INITIAL_WINDOW_SEGMENTS * mss;
  }

  onAck(acked: number, now: number, rtt: number): void {
    if (this.cwnd < this.ssthresh) {
      this.cwnd = Math.min(this.maxCwnd, this.cwnd + Math.min(acked, 2 * this.mss));
      return;
    }
    const mss = this.mss;
    if (this.epochStart < 0) {
      this.epochStart = now;
      this.cwndSeg = this.cwnd / mss;
      if (this.wMax <= this.cwndSeg) {
        this.k = 0;
        this.wMax = this.cwndSeg;
      } else {
        this.k = Math.cbrt((this.wMax - this.cwndSeg) / CUBIC_C);
      }
      this.wEst = this.cwndSeg;
    }
    const cwndSeg = this.cwnd / mss;
    const ackedSeg = acked / mss;
    // RFC 9438 4.2: target = W_cubic(t + RTT), bounded to [cwnd, 1.5 cwnd].
    const t = (now - this.epochStart + rtt) / 1000;
    const d = t - this.k;
    let target = CUBIC_C * d * d * d + this.wMax;
    if (target < cwndSeg) target = cwndSeg;
    else if (target > 1.5 * cwndSeg) target = 1.5 * cwndSeg;
    // RFC 9438 4.3: Reno-friendly region.
    this.wEst += ALPHA_RENO * (ackedSeg / cwndSeg);
    let next: number;
    if (target < this.wEst) next = Math.max(cwndSeg, this.wEst);
    else next = cwndSeg + ((target - cwndSeg) / cwndSeg) * ackedSeg;
    this.cwnd = Math.min(this.maxCwnd, next * mss);
  }

  onCongestion(_now: number, _flight: number): void {
    this.reduce(this.cwnd);
  }

  private reduce(window: number): void {
    const seg = window / this.mss;
    // RFC 9438 4.7 fast convergence.
    this.wMax = seg < this.wMax ? (seg * (1 + CUBIC_BETA)) / 2 : seg;
    this.ssthresh = Math.max(window * CUBIC_BETA, 2 * this.mss);
    this.epochStart = -1;
  }

  onRecoveryEnd(_now: number): void {
    this.cwnd = this.ssthresh;
  }

  onTimeout(_now: number, _flight: number): void {
    this.reduce(this.cwnd);
    this.cwnd = this.mss;
  }

  onIdle(_now: number, _rto: number): void {
    this.cwnd = Math.min(this.cwnd, INITIAL_WINDOW_SEGMENTS * this.mss);
    this.epochStart = -1;
  }
}
