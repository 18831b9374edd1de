// Retransmission timeout estimator (RFC 6298). Samples come from timestamps (RFC 7323: unambiguous
// even for retransmitted data) or from one timed segment at a time that was never retransmitted
// (Karn's algorithm: the caller does not sample retransmitted segments). Times in milliseconds.

export const RTO_INITIAL_MS = 1000;
/** Linux's floor (RFC 6298 says 1 s; 200 ms is the common practice and what Linux peers expect). */
export const RTO_MIN_MS = 200;
export const RTO_MAX_MS = 60_000;
/** Clock granularity G of RFC 6298 section 2. */
export const RTO_GRANULARITY_MS = 1;

export class RttEstimator {
  srtt = 0;
  rttvar = 0;
  /** Latest sample (ms), 0 before the first. */
  latest = 0;
  /** Smallest sample seen (ms), Infinity before the first. */
  minRtt = Infinity;
  samples = 0;
  private base: number;
  /** Exponential backoff factor applied after timeouts (1, 2, 4, ...). */
  backoff = 1;

  constructor(
    readonly minRto = RTO_MIN_MS,
    readonly maxRto = RTO_MAX_MS,
    initialRto = RTO_INITIAL_MS,
  ) {
    this.base = initialRto;
  }

  /** Feeds one RTT measurement (ms, >= 0). Resets the backoff (RFC 6298 section 5, note after 5.7). */
  sample(rtt: number): void {
    if (!(rtt >= 0)) return;
    this.latest = rtt;
    if (rtt < this.minRtt) this.minRtt = rtt;
    if (this.samples === 0) {
      this.srtt = rtt;
      this.rttvar = rtt / 2;
    } else {
      // RFC 6298 2.3: beta = 1/4, alpha = 1/8.
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rtt);
      this.srtt = 0.875 * this.srtt + 0.125 * rtt;
    }
    this.samples++;
    this.base = this.srtt + Math.max(RTO_GRANULARITY_MS, 4 * this.rttvar);
    this.backoff = 1;
  }

  /** The current RTO with backoff, clamped to [minRto, maxRto]. */
  get rto(): number {
    const v = this.base * this.backoff;
    return v < this.minRto ? this.minRto : v > this.maxRto ? this.maxRto : v;
  }

  /** RFC 6298 5.5: double the RTO after a timeout (bounded so it cannot overflow). */
  backOff(): void {
    if (this.base * this.backoff < this.maxRto) this.backoff *= 2;
  }
}
