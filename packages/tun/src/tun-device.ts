// The TunDevice seam: what the node agent and the client need from a TUN interface. Implemented by
// LinuxTun (kernel, src/linux-tun.ts) and MemoryTun (in-memory pair, src/testing/memory-tun.ts).
//
// Buffer ownership (read side): a PacketBatch and every view it hands out (slab, packet(i)) are valid
// ONLY during the synchronous handler call. The memory is reused for the next batch as soon as the
// handler returns, so consume in place or copy what you keep (e.g. `Buffer.from(batch.packet(i))`).
// Write side: write()/writeBatch()/writeSlab() copy into the kernel (or the peer) before returning;
// the caller keeps ownership of its buffers and may reuse them immediately.
import { EventEmitter } from 'node:events';
import { TunError } from './errors.js';

/** Packets delivered by one wake-up; see the ownership contract above. */
export interface PacketBatch {
  /** Number of packets in the batch (>= 1). */
  readonly count: number;
  /** The slab holding all packets of the batch (a view; valid only during the handler call). */
  readonly slab: Uint8Array;
  /** Byte offset of packet i in `slab`. */
  offset(i: number): number;
  /** Length in bytes of packet i. */
  length(i: number): number;
  /** View of packet i into `slab` (no copy; valid only during the handler call). */
  packet(i: number): Uint8Array;
}

export type PacketHandler = (batch: PacketBatch) => void;

export interface TunStats {
  rxPackets: number;
  rxBytes: number;
  /** Handler calls (one per batch). */
  rxBatches: number;
  txPackets: number;
  txBytes: number;
  /** Packets not written because the device was full (EAGAIN) or closed. */
  txDropped: number;
  /** Packets the kernel rejected (EINVAL for a non-IP packet, EIO when the interface is down, ...). */
  txErrors: number;
  /** Errors emitted (or, with no 'error' listener, only counted here). */
  errors: number;
}

export interface TunDeviceEvents {
  /** A write hit EAGAIN earlier and the device accepts packets again. */
  writable: [];
  /** A read/write/poll failure, as a TunError with code, errno and syscall. Never thrown. */
  error: [TunError];
  /** The device is closed (fd released). Emitted once. */
  close: [];
}

export interface TunDevice extends EventEmitter<TunDeviceEvents> {
  /** Interface name as the kernel knows it (e.g. 'tun0'). */
  readonly name: string;
  /** Current MTU in bytes. */
  readonly mtu: number;
  /** True once close() was called. */
  readonly closed: boolean;
  /**
   * Sets the consumer of incoming packets and starts reading (null stops reading; packets then queue in
   * the kernel and are dropped when its queue is full). One handler at a time; see PacketBatch ownership.
   */
  onPackets(handler: PacketHandler | null): void;
  /**
   * Async iteration over incoming packets, each one COPIED into its own Buffer (convenient, slower than
   * onPackets). Uses the onPackets slot; ends when the device closes. Reading pauses while `highWaterMark`
   * packets are queued unconsumed.
   */
  packets(options?: { highWaterMark?: number }): AsyncIterableIterator<Uint8Array>;
  /** Writes one IP packet. false when dropped (device full → a 'writable' event follows; closed; error). */
  write(packet: Uint8Array): boolean;
  /**
   * Writes packets in order; returns how many were written. Stops at the first EAGAIN / full queue (the
   * rest is dropped and counted, 'writable' follows); a packet the kernel rejects is skipped (counted,
   * 'error' event) and the batch continues.
   */
  writeBatch(packets: readonly Uint8Array[]): number;
  /**
   * Like writeBatch for packets laid back to back in `slab` with `lengths[0..count)`; one native call.
   * Throws TunError('CORRIDOR_ERR_TUN_INVALID_ARG') before writing anything when `count` is not an integer
   * in 0..lengths.length or the lengths add up to more than `slab.length`.
   */
  writeSlab(slab: Uint8Array, lengths: Uint32Array, count?: number): number;
  /**
   * Idempotent: stops reading, releases the device, resolves once it is released. Safe from inside a
   * packet handler. Afterwards write*() return false/0 (counted as dropped), onPackets() is a no-op.
   */
  close(): Promise<void>;
  stats(): TunStats;
}

/**
 * Checks writeSlab()'s arguments before anything is written: `count` must be an integer in
 * 0..lengths.length and lengths[0..count) must fit in `slab`. A bad layout is a caller bug, so it throws
 * TunError('CORRIDOR_ERR_TUN_INVALID_ARG') instead of writing part of the batch (the addon checks again).
 */
export function checkSlabLayout(slab: Uint8Array, lengths: Uint32Array, count: number): void {
  if (!(slab instanceof Uint8Array) || !(lengths instanceof Uint32Array)) {
    throw new TunError(
      'CORRIDOR_ERR_TUN_INVALID_ARG',
      'writeSlab(slab: Uint8Array, lengths: Uint32Array, count?)',
    );
  }
  if (!Number.isInteger(count) || count < 0 || count > lengths.length) {
    throw new TunError(
      'CORRIDOR_ERR_TUN_INVALID_ARG',
      `writeSlab: count must be an integer in 0..${lengths.length} (lengths.length), got ${count}`,
    );
  }
  let total = 0;
  for (let i = 0; i < count; i++) total += lengths[i] as number;
  if (total > slab.length) {
    throw new TunError(
      'CORRIDOR_ERR_TUN_INVALID_ARG',
      `writeSlab: lengths[0..${count}) add up to ${total} bytes but the slab has ${slab.length}`,
    );
  }
}

/** Shared behaviour: event plumbing, error policy and the copying async iterator. */
export abstract class BaseTun extends EventEmitter<TunDeviceEvents> implements TunDevice {
  abstract readonly name: string;
  abstract readonly mtu: number;
  abstract readonly closed: boolean;
  abstract onPackets(handler: PacketHandler | null): void;
  abstract write(packet: Uint8Array): boolean;
  abstract writeSlab(slab: Uint8Array, lengths: Uint32Array, count?: number): number;
  abstract close(): Promise<void>;
  abstract stats(): TunStats;

  protected errorCount = 0;
  /** Last error emitted or counted; handy when nobody listens for 'error'. */
  lastError: TunError | undefined;

  writeBatch(packets: readonly Uint8Array[]): number {
    let n = 0;
    for (const p of packets) {
      if (!this.write(p)) break;
      n++;
    }
    return n;
  }

  /**
   * Reports an error without ever throwing: emitted to 'error' listeners when there are any, otherwise
   * only counted (stats().errors) and kept in `lastError` — an unhandled 'error' must not crash a VPN.
   */
  protected reportError(err: TunError): void {
    this.errorCount++;
    this.lastError = err;
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  packets(options: { highWaterMark?: number } = {}): AsyncIterableIterator<Uint8Array> {
    const highWaterMark = Math.max(1, options.highWaterMark ?? 1024);
    const queue: Uint8Array[] = [];
    let head = 0;
    let waiting: ((r: IteratorResult<Uint8Array>) => void) | undefined;
    let paused = false;
    let done = this.closed;

    const handler: PacketHandler = (batch) => {
      for (let i = 0; i < batch.count; i++) {
        const copy = Buffer.allocUnsafe(batch.length(i));
        copy.set(batch.packet(i));
        if (waiting) {
          const w = waiting;
          waiting = undefined;
          w({ value: copy, done: false });
        } else queue.push(copy);
      }
      if (queue.length - head >= highWaterMark && !paused) {
        paused = true;
        this.onPackets(null);
      }
    };
    const finish = (): void => {
      done = true;
      this.off('close', finish);
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w({ value: undefined, done: true });
      }
    };
    this.once('close', finish);
    if (!done) this.onPackets(handler);

    const iterator: AsyncIterableIterator<Uint8Array> = {
      next: () => {
        if (head < queue.length) {
          const value = queue[head++] as Uint8Array;
          if (head > 1024 && head * 2 > queue.length) {
            queue.splice(0, head);
            head = 0;
          }
          if (paused && queue.length - head < highWaterMark / 2 && !this.closed) {
            paused = false;
            this.onPackets(handler);
          }
          return Promise.resolve({ value, done: false });
        }
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          waiting = resolve;
        });
      },
      return: () => {
        if (!this.closed) this.onPackets(null);
        finish();
        queue.length = 0;
        head = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }
}
