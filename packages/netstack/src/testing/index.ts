// @corridor/netstack/testing: deterministic simulation and packet helpers for tests (no I/O).
export { Prng } from './prng.js';
export { SimNetwork, SimClock, type LinkOptions, type SimNode } from './sim.js';
export {
  buildTcp,
  buildUdp,
  buildIcmp,
  decode,
  flagBits,
  flagString,
  type TcpSpec,
  type Decoded,
  type DecodedTcp,
} from './packets.js';
export { BulkSender, BulkReceiver, acceptAll, patternByte, fillPattern } from './engine-apps.js';
