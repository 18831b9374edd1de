/**
 * Storage for transport keys: fixed 64-byte slots (send key || receive key) cut from 16 KiB chunks,
 * so a keypair costs two small views instead of its own ArrayBuffers (each with a backing store and
 * allocator overhead several times the 32 bytes it holds). A node holds one or two keypairs per client
 * and tens of thousands of clients.
 *
 * Contract: `allocate()` hands out a slot the caller owns until it calls `release(slot)` exactly once;
 * `release` zeroes the slot before it can be handed out again. Views of a released slot must not be
 * used: Keypair replaces them with a shared zero key and marks itself dead in `wipe()`, and every
 * seal/open checks `alive` first. Chunks are never returned to the allocator: memory is bounded by the
 * peak number of live keypairs (64 bytes each).
 */
export const KEY_SLOT_BYTES = 64;
const SLOTS_PER_CHUNK = 256;

export class KeySlots {
  private readonly chunks: Buffer[] = [];
  private readonly free: number[] = [];

  /** A free slot id (grows by one chunk when none is free). */
  allocate(): number {
    const slot = this.free.pop();
    if (slot !== undefined) return slot;
    const first = this.chunks.length * SLOTS_PER_CHUNK;
    this.chunks.push(Buffer.alloc(SLOTS_PER_CHUNK * KEY_SLOT_BYTES));
    for (let i = SLOTS_PER_CHUNK - 1; i > 0; i--) this.free.push(first + i);
    return first;
  }

  /** A view of `length` bytes at `offset` inside slot `slot`. */
  view(slot: number, offset: number, length: number): Buffer {
    const chunk = this.chunks[Math.floor(slot / SLOTS_PER_CHUNK)] as Buffer;
    const start = (slot % SLOTS_PER_CHUNK) * KEY_SLOT_BYTES + offset;
    return chunk.subarray(start, start + length);
  }

  /** Zeroes the slot and makes it available again. */
  release(slot: number): void {
    const chunk = this.chunks[Math.floor(slot / SLOTS_PER_CHUNK)] as Buffer;
    const start = (slot % SLOTS_PER_CHUNK) * KEY_SLOT_BYTES;
    chunk.fill(0, start, start + KEY_SLOT_BYTES);
    this.free.push(slot);
  }

  /** Slots handed out and not released. */
  get inUse(): number {
    return this.chunks.length * SLOTS_PER_CHUNK - this.free.length;
  }
}

/** The process-wide slots every Keypair uses. */
export const keySlots = new KeySlots();
