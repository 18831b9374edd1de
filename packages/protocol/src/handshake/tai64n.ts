/**
 * TAI64N-style 12-byte timestamps (8-byte big-endian seconds with the 2^62 TAI64 offset, 4-byte
 * big-endian nanoseconds). Byte-wise comparison orders them in time, which is what the node's replay
 * guard relies on.
 */
import { TIMESTAMP_BYTES } from './wire.js';

const TAI64_OFFSET = 2n ** 62n;

export function encodeTai64n(out: Uint8Array, seconds: bigint, nanos: number): void {
  const s = TAI64_OFFSET + seconds;
  for (let i = 7; i >= 0; i--) out[7 - i] = Number((s >> BigInt(8 * i)) & 0xffn);
  out[8] = (nanos >>> 24) & 0xff;
  out[9] = (nanos >>> 16) & 0xff;
  out[10] = (nanos >>> 8) & 0xff;
  out[11] = nanos & 0xff;
}

/**
 * Milliseconds since the Unix epoch of a 12-byte TAI64N timestamp (sub-millisecond part dropped);
 * NaN when it is not 12 bytes, its nanoseconds are out of range or it lies beyond the safe-integer
 * range. Never throws.
 */
export function decodeTai64nMs(ts: Uint8Array): number {
  if (ts.length !== TIMESTAMP_BYTES) return NaN;
  let s = 0n;
  for (let i = 0; i < 8; i++) s = (s << 8n) | BigInt(ts[i]!);
  const nanos = ((ts[8]! << 24) | (ts[9]! << 16) | (ts[10]! << 8) | ts[11]!) >>> 0;
  if (nanos >= 1_000_000_000) return NaN;
  const ms = (s - TAI64_OFFSET) * 1000n + BigInt(Math.floor(nanos / 1_000_000));
  if (ms > BigInt(Number.MAX_SAFE_INTEGER) || ms < -BigInt(Number.MAX_SAFE_INTEGER)) return NaN;
  return Number(ms);
}

/** Three-way byte comparison of two timestamps (-1, 0, 1). */
export function compareTai64n(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < TIMESTAMP_BYTES; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * Produces strictly increasing timestamps from an injected wall clock (ms since the Unix epoch),
 * even when the clock stands still or steps back: the client must never reuse a timestamp, or the
 * node would reject its initiation as a replay.
 */
export class Tai64nClock {
  private last = Buffer.alloc(TIMESTAMP_BYTES);

  /** Returns a fresh 12-byte buffer owned by the caller. */
  next(wallClockMs: number): Buffer {
    const out = Buffer.alloc(TIMESTAMP_BYTES);
    const ms = Math.max(0, Math.floor(wallClockMs));
    encodeTai64n(out, BigInt(Math.floor(ms / 1000)), (ms % 1000) * 1_000_000);
    if (compareTai64n(out, this.last) <= 0) {
      // Clock did not advance: last + 1 ns (carrying into the seconds when nanoseconds overflow).
      out.set(this.last);
      const nanos = out.readUInt32BE(8) + 1;
      if (nanos >= 1_000_000_000) {
        out.writeBigUInt64BE(out.readBigUInt64BE(0) + 1n, 0);
        out.writeUInt32BE(0, 8);
      } else {
        out.writeUInt32BE(nanos, 8);
      }
    }
    this.last = Buffer.from(out);
    return out;
  }
}
