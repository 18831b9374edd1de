/**
 * In-process Store for embedded/single-instance mode. State dies with the process and is not
 * shared with other replicas: running two controllers on one memory store is a misconfiguration.
 */
import type { MessageHandler, Store } from './store.js';

interface Entry {
  value: string;
  /** epoch ms, or Infinity */
  expiresAt: number;
}

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly data = new Map<string, Entry>();
  private readonly channels = new Map<string, Set<MessageHandler>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  private live(key: string): Entry | undefined {
    const e = this.data.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.now()) {
      this.data.delete(key);
      return undefined;
    }
    return e;
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, e] of this.data) if (e.expiresAt <= now) this.data.delete(k);
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null;
  }

  async mget(keys: readonly string[]): Promise<(string | null)[]> {
    return keys.map((k) => this.live(k)?.value ?? null);
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.data.set(key, { value, expiresAt: ttlMs === undefined ? Infinity : this.now() + ttlMs });
  }

  async del(key: string): Promise<void> {
    this.data.delete(key);
  }

  async incr(key: string, ttlMs: number): Promise<number> {
    const e = this.live(key);
    if (e === undefined) {
      this.data.set(key, { value: '1', expiresAt: this.now() + ttlMs });
      return 1;
    }
    const n = Number(e.value) + 1;
    e.value = String(n);
    return n;
  }

  async decr(key: string): Promise<number> {
    const e = this.live(key);
    if (e === undefined) return 0;
    const n = Number(e.value) - 1;
    e.value = String(n);
    return n;
  }

  async pttl(key: string): Promise<number> {
    const e = this.live(key);
    if (e === undefined) return -2;
    return e.expiresAt === Infinity ? -1 : Math.max(0, e.expiresAt - this.now());
  }

  async publish(channel: string, message: string): Promise<void> {
    const handlers = this.channels.get(channel);
    if (handlers === undefined) return;
    // Deliver asynchronously, like Redis, so publishers never run subscriber code re-entrantly.
    for (const h of handlers) queueMicrotask(() => h(message));
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    let set = this.channels.get(channel);
    if (set === undefined) this.channels.set(channel, (set = new Set()));
    set.add(handler);
    return async () => {
      set.delete(handler);
    };
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.channels.clear();
    this.data.clear();
  }
}
