// SYN cookies: a SYN-ACK whose ISN encodes what we would have kept for the half-open connection, so a
// full SYN backlog (a flood) costs no memory. Layout of the 32-bit cookie ISN:
//
//   bits 31..27  t mod 32, t = a 64-second counter (cookies live up to 2 periods: 64..128 s)
//   bits 26..24  index into MSS_TABLE (the largest entry <= the peer's MSS)
//   bits 23..0   SipHash(4-tuple, t, peer ISN) & 0xffffff
//
// When the SYN carried timestamps, the window-scale shift and SACK-permitted of the SYN are echoed back
// to us in TSecr of the final ACK: they live in the low 5 bits of our TSval (Linux does the same).
// Without timestamps the connection runs without window scaling and SACK.
import type { IpAddr } from '../wire/address.js';
import { tupleHash } from './isn.js';
import type { SipKey } from './siphash.js';

export const SYN_COOKIE_PERIOD_MS = 64_000;
export const MSS_TABLE = [536, 1200, 1300, 1380, 1440, 1460, 4036, 8960] as const;
/** Low TSval bits carrying options: 4 bits wscale (15 = none) + 1 bit SACK. */
export const COOKIE_TS_BITS = 5;
const NO_WSCALE = 15;

export function cookieMssIndex(peerMss: number): number {
  let idx = 0;
  for (let i = 0; i < MSS_TABLE.length; i++) if ((MSS_TABLE[i] as number) <= peerMss) idx = i;
  return idx;
}

export function createSynCookie(
  key: SipKey,
  local: IpAddr,
  localPort: number,
  remote: IpAddr,
  remotePort: number,
  peerIsn: number,
  peerMss: number,
  nowMs: number,
): number {
  const t = Math.floor(nowMs / SYN_COOKIE_PERIOD_MS);
  const idx = cookieMssIndex(peerMss);
  const h = tupleHash(key, local, localPort, remote, remotePort, t, peerIsn) & 0xffffff;
  return (((t & 31) << 27) | (idx << 24) | h) >>> 0;
}

/**
 * Checks the cookie echoed in an ACK (cookie = ack - 1, peer ISN = seq - 1). Returns the MSS it
 * encodes, or 0 when it is not a valid cookie of the last two periods.
 */
export function checkSynCookie(
  key: SipKey,
  local: IpAddr,
  localPort: number,
  remote: IpAddr,
  remotePort: number,
  peerIsn: number,
  cookie: number,
  nowMs: number,
): number {
  const now = Math.floor(nowMs / SYN_COOKIE_PERIOD_MS);
  const tb = cookie >>> 27;
  for (let age = 0; age <= 1; age++) {
    const t = now - age;
    if ((t & 31) !== tb) continue;
    const h = tupleHash(key, local, localPort, remote, remotePort, t, peerIsn) & 0xffffff;
    if (h === (cookie & 0xffffff)) return MSS_TABLE[(cookie >>> 24) & 7] as number;
  }
  return 0;
}

/** TSval carrying the SYN's options in its low bits (wscale -1 = none). */
export function cookieTsVal(tsNow: number, wscale: number, sackPermitted: boolean): number {
  const ws = wscale < 0 ? NO_WSCALE : Math.min(wscale, 14);
  const bits = (ws << 1) | (sackPermitted ? 1 : 0);
  let ts = ((tsNow & ~0x1f) | bits) >>> 0;
  // Never ahead of the clock (as Linux): the connection's later TSvals must not go backwards, or the
  // peer's PAWS check drops them.
  if (((ts - (tsNow >>> 0)) | 0) > 0) ts = (ts - 0x20) >>> 0;
  return ts;
}

/** Options recovered from the TSecr of the cookie ACK. */
export function cookieOptionsFromTsEcr(tsEcr: number): { wscale: number; sackPermitted: boolean } {
  const ws = (tsEcr >>> 1) & 0xf;
  return { wscale: ws === NO_WSCALE ? -1 : ws, sackPermitted: (tsEcr & 1) !== 0 };
}
