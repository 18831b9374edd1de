import { describe, expect, it } from 'vitest';
import { Cubic, CUBIC_BETA } from './cubic.js';
import { NewReno } from './new-reno.js';

const MSS = 1000;

describe('NewReno', () => {
  it('slow start adds the bytes acknowledged (ABC, at most 2 MSS per ACK)', () => {
    const c = new NewReno(MSS);
    expect(c.cwnd).toBe(10 * MSS);
    c.onAck(MSS, 0, 10);
    expect(c.cwnd).toBe(11 * MSS);
    c.onAck(5 * MSS, 0, 10);
    expect(c.cwnd).toBe(13 * MSS);
  });

  it('congestion avoidance adds one MSS per cwnd of acknowledged bytes', () => {
    const c = new NewReno(MSS);
    c.ssthresh = 10 * MSS;
    for (let i = 0; i < 10; i++) c.onAck(MSS, 0, 10);
    expect(c.cwnd).toBe(11 * MSS);
  });

  it('halves on loss, ends recovery at ssthresh, collapses to 1 MSS on timeout', () => {
    const c = new NewReno(MSS);
    c.cwnd = 40 * MSS;
    c.onCongestion(0, 40 * MSS);
    expect(c.ssthresh).toBe(20 * MSS);
    c.onRecoveryEnd(0);
    expect(c.cwnd).toBe(20 * MSS);
    c.onTimeout(0, 20 * MSS);
    expect(c.cwnd).toBe(MSS);
    expect(c.ssthresh).toBe(10 * MSS);
    c.onCongestion(0, MSS);
    expect(c.ssthresh).toBe(2 * MSS); // floor
  });
});

describe('CUBIC (RFC 9438)', () => {
  it('reduces by beta = 0.7 and regains W_max around K seconds later', () => {
    const c = new Cubic(MSS);
    c.cwnd = 100 * MSS;
    c.ssthresh = 50 * MSS;
    c.onCongestion(0, 100 * MSS);
    expect(c.ssthresh).toBe(100 * MSS * CUBIC_BETA);
    expect(c.wMax).toBe(100);
    c.onRecoveryEnd(0);
    expect(c.cwnd).toBe(70 * MSS);
    // K = cbrt(W_max (1 - beta) / C) = cbrt(100 * 0.3 / 0.4) ~ 4.2 s. Feed one ACK per 10 ms.
    const rtt = 10;
    let t = 0;
    const at = (seconds: number): number => {
      while (t < seconds * 1000) {
        t += rtt;
        c.onAck(c.cwnd / 10, t, rtt); // a tenth of a window per ACK
      }
      return c.cwnd / MSS;
    };
    const w1 = at(1);
    const w4 = at(4.2);
    const w6 = at(6);
    expect(w1).toBeGreaterThan(70);
    expect(w1).toBeLessThan(100);
    expect(w4).toBeGreaterThan(95); // plateau near W_max
    expect(w4).toBeLessThan(106);
    expect(w6).toBeGreaterThan(w4); // convex probing beyond W_max
  });

  it('fast convergence lowers W_max when losses come below the previous W_max', () => {
    const c = new Cubic(MSS);
    c.cwnd = 100 * MSS;
    c.onCongestion(0, 0);
    c.cwnd = 80 * MSS;
    c.onCongestion(0, 0);
    expect(c.wMax).toBeCloseTo((80 * (1 + CUBIC_BETA)) / 2);
  });

  it('timeout collapses to one MSS', () => {
    const c = new Cubic(MSS);
    c.cwnd = 50 * MSS;
    c.onTimeout(0, 50 * MSS);
    expect(c.cwnd).toBe(MSS);
    expect(c.ssthresh).toBe(35 * MSS);
  });
});
