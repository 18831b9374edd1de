/**
 * Sliding-window anti-replay filter, RFC 6479 style: a ring of 32-bit words, whole words cleared as
 * the window advances, so both check and update are O(1) amortised with no allocation.
 *
 * Window: REPLAY_WINDOW_SIZE = (RING_WORDS - 1) * 32 = 4064 counters behind the highest accepted one.
 * Counters are JS numbers (exact up to 2^53 - 1); callers reject larger values before reaching here.
 *
 * Contract: call `wouldAccept` before authenticating (cheap early drop, no state change) and
 * `accept` only AFTER the packet authenticated; `accept` re-checks and records.
 *
 * Memory: the 512-byte ring is allocated only once a counter of 32 or more is accepted. Until then
 * every accepted counter lies in ring word 0, kept in a plain number (`word0`), so an idle session —
 * a keepalive every 25 s, fresh keys every 2 minutes, counters restarting at 0 — never pays for it.
 * Both forms give exactly the same answers (the ring starts with word 0 copied in).
 */
const WORD_BITS = 32;
const RING_WORDS = 128; // power of two
const RING_MASK = RING_WORDS - 1;
export const REPLAY_WINDOW_SIZE = (RING_WORDS - 1) * WORD_BITS;

export class ReplayWindow {
  /** The full ring, or null while every accepted counter is below WORD_BITS (see `word0`). */
  private ring: Uint32Array | null = null;
  /** Ring word 0 while `ring` is null. */
  private word0 = 0;
  /** Highest accepted counter (0 before any packet, as counter 0 is then simply "not yet seen"). */
  private last = 0;

  constructor(private readonly limit: number = Number.MAX_SAFE_INTEGER) {}

  /** Whether `counter` is inside the window and not yet seen. No state change. */
  wouldAccept(counter: number): boolean {
    if (counter >= this.limit) return false;
    if (counter > this.last) return true;
    if (counter + REPLAY_WINDOW_SIZE <= this.last) return false;
    const ring = this.ring;
    // counter <= last, and without a ring last < WORD_BITS: the bit is in word 0.
    if (ring === null) return (this.word0 & (1 << counter)) === 0;
    const word = Math.floor(counter / WORD_BITS) & RING_MASK;
    return (ring[word]! & (1 << (counter & 31))) === 0;
  }

  /** Records an authenticated counter. False (nothing recorded) for a replay or a too-old counter. */
  accept(counter: number): boolean {
    if (counter >= this.limit) return false;
    let ring = this.ring;
    if (ring === null) {
      if (counter < WORD_BITS) {
        const bit = 1 << counter;
        if ((this.word0 & bit) !== 0) return false;
        this.word0 |= bit;
        if (counter > this.last) this.last = counter;
        return true;
      }
      ring = this.ring = new Uint32Array(RING_WORDS);
      ring[0] = this.word0;
    }
    const index = Math.floor(counter / WORD_BITS);
    if (counter > this.last) {
      const current = Math.floor(this.last / WORD_BITS);
      const diff = Math.min(index - current, RING_WORDS);
      for (let i = 1; i <= diff; i++) ring[(current + i) & RING_MASK] = 0;
      this.last = counter;
    } else if (counter + REPLAY_WINDOW_SIZE <= this.last) {
      return false;
    }
    const word = index & RING_MASK;
    const bit = 1 << (counter & 31);
    if ((ring[word]! & bit) !== 0) return false;
    ring[word] = ring[word]! | bit;
    return true;
  }

  /** Whether the full ring has been allocated (tests, memory figures). */
  get expanded(): boolean {
    return this.ring !== null;
  }

  reset(): void {
    this.ring = null;
    this.word0 = 0;
    this.last = 0;
  }
}
