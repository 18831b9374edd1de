/**
 * The shared-state seam between controller replicas: Redis in a deployment, an in-process map
 * in embedded mode. Keys are given without the deployment prefix; implementations add it (for
 * pub/sub channels too). TTLs are in milliseconds. Values are strings; callers serialize.
 */
export type MessageHandler = (message: string) => void;

/**
 * The store cannot be reached (connection refused, lost, or retries used up). Commands reject with
 * it; the error handler answers 503 with Retry-After (the request may be retried), not 500.
 */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  readonly code = 'CORRIDOR_STORE_UNAVAILABLE';
  constructor(cause: unknown) {
    super(`shared store unreachable: ${(cause as Error)?.message ?? String(cause)}`.slice(0, 300), { cause });
  }
}

export interface Store {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  mget(keys: readonly string[]): Promise<(string | null)[]>;
  /** Sets the value; with `ttlMs` it expires after that long. */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  del(key: string): Promise<void>;
  /**
   * Increments an integer counter and returns the new value. The TTL is set when the counter is
   * created (fixed window), not extended by later increments.
   */
  incr(key: string, ttlMs: number): Promise<number>;
  /**
   * Decrements a counter made by `incr`, keeping its TTL; a counter that no longer exists stays
   * absent (never recreated without a TTL). Returns the new value, or 0 when absent.
   */
  decr(key: string): Promise<number>;
  /** Remaining lifetime in ms; -1 when the key has no TTL, -2 when it does not exist. */
  pttl(key: string): Promise<number>;
  publish(channel: string, message: string): Promise<void>;
  /**
   * Subscribes `handler` to `channel`; resolves once the subscription is active (messages published
   * after that are delivered). The returned function unsubscribes.
   */
  subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>>;
  ping(): Promise<boolean>;
  /** Closes connections; no calls are allowed afterwards. */
  close(): Promise<void>;
}
