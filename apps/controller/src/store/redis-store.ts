/**
 * Redis-backed Store shared by all replicas. One connection for commands, one (lazily created)
 * for subscriptions, as Redis requires. Every key and channel is prefixed with `prefix`.
 */
import { Redis } from 'ioredis';
import { StoreUnavailableError, type MessageHandler, type Store } from './store.js';

/** Connection-level failures of ioredis (as opposed to a command Redis refused). */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);
function unreachable(e: unknown): boolean {
  const err = e as { name?: string; message?: string; code?: string };
  return (
    err?.name === 'MaxRetriesPerRequestError' ||
    err?.message === 'Connection is closed.' ||
    (typeof err?.code === 'string' && SOCKET_CODES.has(err.code))
  );
}

/** Runs one command; connection failures become StoreUnavailableError. */
async function guard<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw unreachable(e) ? new StoreUnavailableError(e) : e;
  }
}

/** How long close() gives a connection to say goodbye before dropping it (Redis may be gone). */
const QUIT_TIMEOUT_MS = 1_000;

/** Waits for `p` at most `ms` (its outcome is ignored either way). */
async function within(ms: number, p: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.catch(() => {}),
    new Promise<void>((r) => {
      timer = setTimeout(r, ms);
    }),
  ]);
  clearTimeout(timer);
}

async function quitOrDrop(r: Redis): Promise<void> {
  if (r.status !== 'ready') {
    r.disconnect();
    return;
  }
  const timer = setTimeout(() => r.disconnect(), QUIT_TIMEOUT_MS);
  try {
    await r.quit();
  } catch {
    r.disconnect();
  } finally {
    clearTimeout(timer);
  }
}

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly cmd: Redis;
  private sub: Redis | undefined;
  private readonly handlers = new Map<string, Set<MessageHandler>>();

  constructor(
    private readonly url: string,
    private readonly prefix: string,
  ) {
    this.cmd = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
    // Errors surface through command rejections and /readyz; avoid unhandled 'error' events.
    this.cmd.on('error', () => {});
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  async get(key: string): Promise<string | null> {
    return guard(() => this.cmd.get(this.k(key)));
  }

  async mget(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    return guard(() => this.cmd.mget(keys.map((k) => this.k(k))));
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    if (ttlMs === undefined) await guard(() => this.cmd.set(this.k(key), value));
    else await guard(() => this.cmd.set(this.k(key), value, 'PX', Math.max(1, Math.ceil(ttlMs))));
  }

  async del(key: string): Promise<void> {
    await guard(() => this.cmd.del(this.k(key)));
  }

  async incr(key: string, ttlMs: number): Promise<number> {
    const k = this.k(key);
    // MULTI keeps INCR and the first-time PEXPIRE (NX: only when no TTL yet) atomic.
    const res = await guard(() =>
      this.cmd
        .multi()
        .incr(k)
        .pexpire(k, Math.max(1, Math.ceil(ttlMs)), 'NX')
        .exec(),
    );
    const first = res?.[0];
    if (!first || first[0]) throw first?.[0] ?? new Error('redis MULTI failed');
    return Number(first[1]);
  }

  async decr(key: string): Promise<number> {
    // DECR on a key that expired meanwhile would create it without a TTL: only decrement what exists.
    const n = await guard(() =>
      this.cmd.eval(
        "if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) else return 0 end",
        1,
        this.k(key),
      ),
    );
    return Number(n);
  }

  async pttl(key: string): Promise<number> {
    return guard(() => this.cmd.pttl(this.k(key)));
  }

  async publish(channel: string, message: string): Promise<void> {
    await guard(() => this.cmd.publish(this.k(channel), message));
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    if (this.sub === undefined) {
      this.sub = new Redis(this.url, { maxRetriesPerRequest: null });
      this.sub.on('error', () => {});
      this.sub.on('message', (ch: string, msg: string) => {
        const hs = this.handlers.get(ch);
        if (hs) for (const h of hs) h(msg);
      });
    }
    const full = this.k(channel);
    let set = this.handlers.get(full);
    if (set === undefined) {
      this.handlers.set(full, (set = new Set()));
      await this.sub.subscribe(full);
    }
    set.add(handler);
    return async () => {
      set.delete(handler);
      if (set.size === 0 && this.sub) {
        this.handlers.delete(full);
        // Not while the connection is down: the command would wait for Redis to come back (this
        // connection retries forever), holding up shutdown. A channel resubscribed on reconnect
        // has no handlers and its messages are dropped.
        // Bounded too: Redis may have gone a moment ago without the client noticing yet.
        if (this.sub.status === 'ready') await within(QUIT_TIMEOUT_MS, this.sub.unsubscribe(full));
      }
    };
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.cmd.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  /** Quits both connections; a connection that is down (Redis gone) is dropped, never waited for. */
  async close(): Promise<void> {
    await Promise.all([quitOrDrop(this.cmd), this.sub ? quitOrDrop(this.sub) : undefined]);
  }
}
