/**
 * Sliding-window anti-replay filter, RFC 6479 style: a ring of 32-bit words, whole words cleared as
 * the window advances, so both check and update are O(1) amortised with no allocation.
 *
 * Window: REPLAY_WINDOW_SIZE = (RING_WORDS - 1) * 32 = 4064 counters behind the highest accepted one.
 * Counters are JS numbers (exact up to 2^53 - 1); callers reject larger values before reaching here.
 *
 * Contract: call `wouldAccept` before authenticating (cheap early drop, no state change) and
 * `accept` only AFTER the packet authenticated; `accept` re-checks and records.
 */
const WORD_BITS = 32;
const RING_WORDS = 128; // power of two
const RING_MASK = RING_WORDS - 1;
export const REPLAY_WINDOW_SIZE = (RING_WORDS - 1) * WORD_BITS;

export class ReplayWindow {
  private readonly ring = new Uint32Array(RING_WORDS);
  /** Highest accepted counter (0 before any packet, as counter 0 is then simply "not yet seen"). */
  private last = 0;

  constructor(private readonly limit: number = Number.MAX_SAFE_INTEGER) {}

  /** Whether `counter` is inside the window and not yet seen. No state change. */
  wouldAccept(counter: number): boolean {
    if (counter >= this.limit) return false;
    if (counter > this.last) return true;
    if (counter + REPLAY_WINDOW_SIZE <= this.last) return false;
    const word = Math.floor(counter / WORD_BITS) & RING_MASK;
    return (this.ring[word]! & (1 << (counter & 31))) === 0;
  }

  /** Records an authenticated counter. False (nothing recorded) for a replay or a too-old counter. */
  accept(counter: number): boolean {
    if (counter >= this.limit) return false;
    const index = Math.floor(counter / WORD_BITS);
    if (counter > this.last) {
      const current = Math.floor(this.last / WORD_BITS);
      const diff = Math.min(index - current, RING_WORDS);
      for (let i = 1; i <= diff; i++) this.ring[(current + i) & RING_MASK] = 0;
      this.last = counter;
    } else if (counter + REPLAY_WINDOW_SIZE <= this.last) {
      return false;
    }
    const word = index & RING_MASK;
    const bit = 1 << (counter & 31);
    if ((this.ring[word]! & bit) !== 0) return false;
    this.ring[word] = this.ring[word]! | bit;
    return true;
  }

  reset(): void {
    this.ring.fill(0);
    this.last = 0;
  }
}
