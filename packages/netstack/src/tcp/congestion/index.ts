export type { CongestionControl, CongestionControlName } from './congestion-control.js';
export { INITIAL_WINDOW_SEGMENTS } from './congestion-control.js';
export { NewReno } from './new-reno.js';
export { Cubic, CUBIC_BETA, CUBIC_C } from './cubic.js';
import type { CongestionControl, CongestionControlName } from './congestion-control.js';
import { Cubic } from './cubic.js';
import { NewReno } from './new-reno.js';

export function createCongestionControl(name: CongestionControlName, mss: number): CongestionControl {
  return name === 'cubic' ? new Cubic(mss) : new NewReno(mss);
}
