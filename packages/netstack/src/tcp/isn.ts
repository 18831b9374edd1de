// Initial sequence numbers per RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, key),
// M a 4-microsecond clock, F the keyed SipHash-2-4 of the 4-tuple. Off-path attackers cannot predict
// an ISN, and successive incarnations of one 4-tuple get increasing ISNs (helps TIME-WAIT reuse).
import type { IpAddr } from '../wire/address.js';
import { sipHashWords32, type SipKey } from './siphash.js';

const W = new Uint32Array(12);

/** Hashes a 4-tuple plus two extra words with `key` (low 32 bits). Shared by ISNs and SYN cookies. */
export function tupleHash(
  key: SipKey,
  local: IpAddr,
  localPort: number,
  remote: IpAddr,
  remotePort: number,
  extra0: number,
  extra1: number,
): number {
  W[0] = local.w0;
  W[1] = local.w1;
  W[2] = local.w2;
  W[3] = local.w3;
  W[4] = remote.w0;
  W[5] = remote.w1;
  W[6] = remote.w2;
  W[7] = remote.w3;
  W[8] = ((localPort << 16) | remotePort) >>> 0;
  W[9] = extra0 >>> 0;
  W[10] = extra1 >>> 0;
  return sipHashWords32(key, W, 11);
}

/** RFC 6528 ISN for a connection; `nowMs` is the stack clock. */
export function generateIsn(
  key: SipKey,
  local: IpAddr,
  localPort: number,
  remote: IpAddr,
  remotePort: number,
  nowMs: number,
): number {
  const m = Math.floor(nowMs * 250) >>> 0; // 4 µs ticks
  return (m + tupleHash(key, local, localPort, remote, remotePort, 0, 0)) >>> 0;
}
