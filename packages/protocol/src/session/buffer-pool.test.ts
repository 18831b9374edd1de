import { describe, expect, it } from 'vitest';
import { DATA_HEADER_BYTES } from '../handshake/wire.js';
import { BufferPool } from './buffer-pool.js';

describe('BufferPool', () => {
  it('hands out distinct buffers with header and tag room, and refuses when empty', () => {
    const pool = new BufferPool(1500, 2);
    const a = pool.acquire();
    const b = pool.acquire();
    expect(a && b && a !== b && a.length === 1532 && b.length === 1532).toBe(true);
    expect(pool.acquire()).toBeNull();
    pool.release(a!);
    pool.release(a!); // double release ignored
    pool.release(Buffer.alloc(1532)); // foreign buffer ignored
    expect(pool.available).toBe(1);
    expect(pool.acquire()).toBe(a);
    expect(BufferPool.packetView(a!, 10).byteOffset).toBe(a!.byteOffset + DATA_HEADER_BYTES);
  });
});
