/**
 * A fixed pool of packet buffers with header and tag room, so the data path encrypts and decrypts in
 * place without allocating per packet:
 *
 *   [ DATA_HEADER_BYTES | packet (up to packetCapacity) | DATA_TRAILER_BYTES ]
 *
 * Contract: `acquire()` hands out a buffer the caller owns until it calls `release(buf)` exactly once
 * (typically after the socket or TUN write completed). Releasing a foreign or already-released buffer
 * is ignored. When the pool is empty `acquire()` returns null: the caller drops the packet
 * (backpressure) instead of growing memory without bound.
 */
import { DATA_HEADER_BYTES, DATA_TRAILER_BYTES } from '../handshake/wire.js';

export class BufferPool {
  readonly bufferBytes: number;
  private readonly free: Buffer[] = [];
  private readonly owned = new WeakSet<Buffer>();
  private readonly out = new WeakSet<Buffer>();

  constructor(
    readonly packetCapacity: number,
    readonly size: number,
  ) {
    if (!Number.isInteger(packetCapacity) || packetCapacity < 1)
      throw new RangeError('packetCapacity must be >= 1');
    if (!Number.isInteger(size) || size < 1) throw new RangeError('size must be >= 1');
    this.bufferBytes = DATA_HEADER_BYTES + packetCapacity + DATA_TRAILER_BYTES;
    // One slab, cut into views: one allocation for the whole pool.
    const slab = Buffer.alloc(this.bufferBytes * size);
    for (let i = 0; i < size; i++) {
      const b = slab.subarray(i * this.bufferBytes, (i + 1) * this.bufferBytes);
      this.owned.add(b);
      this.free.push(b);
    }
  }

  acquire(): Buffer | null {
    const b = this.free.pop();
    if (b === undefined) return null;
    this.out.add(b);
    return b;
  }

  release(buf: Buffer): void {
    if (!this.owned.has(buf) || !this.out.has(buf)) return;
    this.out.delete(buf);
    this.free.push(buf);
  }

  /** The packet slot of a pool buffer: `n` bytes right after the header room. */
  static packetView(buf: Buffer, n: number): Buffer {
    return buf.subarray(DATA_HEADER_BYTES, DATA_HEADER_BYTES + n);
  }

  get available(): number {
    return this.free.length;
  }
}
