/**
 * Fixed-window limits on what one account may make the controller do, counted in the shared store
 * (every replica sees the same count). Each call counts one request; past `max` in the window it
 * throws 429 CORRIDOR_ERR_RATE_LIMITED with Retry-After (the window's remaining time).
 */
import { AppError, ERROR_CODES } from '../errors.js';
import type { Store } from '../store/store.js';

export interface WindowLimit {
  max: number;
  windowS: number;
}

/** Counts one request under `key` against `limit`; throws when over it. `what` names it in the message. */
export async function countInWindow(
  store: Store,
  key: string,
  limit: WindowLimit,
  what: string,
): Promise<void> {
  const n = await store.incr(key, limit.windowS * 1000);
  if (n > limit.max) {
    const ttl = await store.pttl(key);
    throw new AppError(
      ERROR_CODES.RATE_LIMITED,
      `${what} limit reached (${limit.max} per ${limit.windowS} s); try again later`,
      { 'retry-after': String(Math.max(1, Math.ceil((ttl > 0 ? ttl : limit.windowS * 1000) / 1000))) },
    );
  }
}
