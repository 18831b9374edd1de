/** The Store contract, run against both implementations. */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import type { Store } from '../../src/store/store.js';
import { REDIS_URL_TEST } from '../helpers.js';

const impls: [string, () => Store, boolean][] = [
  ['memory', () => new MemoryStore(), true],
  [
    'redis',
    () => new RedisStore(REDIS_URL_TEST!, `corridor-test:${randomBytes(4).toString('hex')}:`),
    Boolean(REDIS_URL_TEST),
  ],
];

for (const [name, make, enabled] of impls) {
  describe.skipIf(!enabled)(`${name} store`, () => {
    const store = enabled ? make() : (undefined as unknown as Store);
    afterAll(async () => store?.close());

    it('gets, sets with TTL, deletes and mgets', async () => {
      await store.set('a', '1');
      await store.set('b', '2', 50);
      expect(await store.get('a')).toBe('1');
      expect(await store.mget(['a', 'b', 'c'])).toEqual(['1', '2', null]);
      expect(await store.pttl('a')).toBe(-1);
      expect(await store.pttl('c')).toBe(-2);
      await new Promise((r) => setTimeout(r, 80));
      expect(await store.get('b')).toBeNull();
      await store.del('a');
      expect(await store.get('a')).toBeNull();
    });

    it('decrements counters without recreating expired ones', async () => {
      expect(await store.incr('d', 60_000)).toBe(1);
      expect(await store.incr('d', 60_000)).toBe(2);
      expect(await store.decr('d')).toBe(1);
      expect(await store.pttl('d')).toBeGreaterThan(0);
      expect(await store.decr('absent')).toBe(0);
      expect(await store.pttl('absent')).toBe(-2);
    });

    it('increments fixed-window counters', async () => {
      expect(await store.incr('n', 100)).toBe(1);
      expect(await store.incr('n', 100)).toBe(2);
      const ttl = await store.pttl('n');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(100);
      await new Promise((r) => setTimeout(r, 130));
      expect(await store.incr('n', 100)).toBe(1);
    });

    it('delivers pub/sub messages to subscribers until they unsubscribe', async () => {
      const got: string[] = [];
      const off = await store.subscribe('ch', (m) => got.push(m));
      await store.publish('ch', 'one');
      await expect.poll(() => got).toEqual(['one']);
      await off();
      await store.publish('ch', 'two');
      await new Promise((r) => setTimeout(r, 50));
      expect(got).toEqual(['one']);
      expect(await store.ping()).toBe(true);
    });
  });
}
