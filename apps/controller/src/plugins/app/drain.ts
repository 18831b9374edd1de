/**
 * Graceful shutdown support: counts requests whose handlers are still running (including ones
 * whose client already went away), so resource plugins can wait for them in their onClose hooks
 * before closing the database pool or the store. `drain(timeoutMs)` resolves when none are left
 * or after the timeout, whichever comes first.
 */
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyInstance {
    drain(timeoutMs: number): Promise<void>;
  }
}

export default fp(
  async (app) => {
    const active = new Set<FastifyRequest>();
    let waiters: (() => void)[] = [];
    const done = (request: FastifyRequest) => {
      if (active.delete(request) && active.size === 0) {
        const w = waiters;
        waiters = [];
        for (const f of w) f();
      }
    };
    app.addHook('onRequest', async (request) => {
      active.add(request);
    });
    // onSend runs when the handler produced a reply (or an error reply) even if the client left;
    // onResponse covers replies that skip onSend.
    app.addHook('onSend', async (request) => done(request));
    app.addHook('onResponse', async (request) => done(request));

    app.decorate('drain', async (timeoutMs: number) => {
      if (active.size === 0) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        t.unref();
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    });
  },
  { name: 'drain' },
);
