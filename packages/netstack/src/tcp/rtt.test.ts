import { describe, expect, it } from 'vitest';
import { RttEstimator } from './rtt.js';

describe('RTO estimator (RFC 6298)', () => {
  it('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR', () => {
    const e = new RttEstimator(0, 60_000, 1000);
    expect(e.rto).toBe(1000);
    e.sample(100);
    expect(e.srtt).toBe(100);
    expect(e.rttvar).toBe(50);
    expect(e.rto).toBe(300);
  });

  it('later samples: beta 1/4, alpha 1/8', () => {
    const e = new RttEstimator(0, 60_000, 1000);
    e.sample(100);
    e.sample(200);
    expect(e.rttvar).toBeCloseTo(0.75 * 50 + 0.25 * 100);
    expect(e.srtt).toBeCloseTo(0.875 * 100 + 0.125 * 200);
    expect(e.rto).toBeCloseTo(e.srtt + 4 * e.rttvar);
  });

  it('clamps to the floor, backs off exponentially up to the ceiling, and a sample resets the backoff', () => {
    const e = new RttEstimator(200, 60_000, 1000);
    e.sample(1);
    expect(e.rto).toBe(200);
    for (let i = 0; i < 20; i++) e.backOff();
    expect(e.rto).toBe(60_000);
    e.sample(1);
    expect(e.rto).toBe(200);
  });

  it('ignores nonsense samples', () => {
    const e = new RttEstimator();
    e.sample(NaN);
    e.sample(-5);
    expect(e.samples).toBe(0);
  });
});
