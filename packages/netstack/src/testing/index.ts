// @corridor/netstack/testing: deterministic simulation and packet helpers for tests (no I/O).
export { Prng } from './prng.js';
export { SimNetwork, SimClock, type LinkOptions, type SimNode } from './sim.js';
