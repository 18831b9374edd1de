/** Shared state: Redis when REDIS_URL is set, else the in-process store (single instance only). */
import fp from 'fastify-plugin';
import { MemoryStore } from '../../store/memory-store.js';
import { RedisStore } from '../../store/redis-store.js';
import type { Store } from '../../store/store.js';
import { DRAIN_TIMEOUT_MS } from './database.js';

declare module 'fastify' {
  interface FastifyInstance {
    store: Store;
  }
}

export default fp(
  async (app) => {
    let store: Store;
    if (app.config.redisUrl !== undefined) {
      store = new RedisStore(app.config.redisUrl, app.config.redisKeyPrefix);
    } else {
      store = new MemoryStore();
      app.log.warn(
        'REDIS_URL is not set: using the in-process store. This mode is SINGLE-INSTANCE ONLY (rate limits, node liveness and revocation fan-out are not shared); set REDIS_URL to run several replicas.',
      );
    }
    app.decorate('store', store);
    app.addHook('onClose', async () => {
      await app.drain(DRAIN_TIMEOUT_MS);
      await store.close();
    });
  },
  { name: 'store', dependencies: ['config', 'drain'] },
);
