/**
 * Keyset pagination over (createdAt, id): the cursor is opaque to clients (base64url JSON) and
 * stable under inserts, unlike offsets.
 */
import { AppError, ERROR_CODES } from '../errors.js';

export interface KeysetCursor {
  t: string;
  id: string;
}

export function encodeCursor(createdAt: Date, id: string | bigint | number): string {
  return Buffer.from(JSON.stringify({ t: createdAt.toISOString(), id: String(id) })).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): KeysetCursor | undefined {
  if (cursor === undefined) return undefined;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      typeof v === 'object' &&
      v !== null &&
      typeof (v as KeysetCursor).t === 'string' &&
      typeof (v as KeysetCursor).id === 'string' &&
      !Number.isNaN(Date.parse((v as KeysetCursor).t))
    ) {
      return v as KeysetCursor;
    }
  } catch {
    // fall through
  }
  throw new AppError(ERROR_CODES.VALIDATION, 'cursor is malformed');
}

/** Splits a `take: limit + 1` result into a page and the next cursor. */
export function page<T>(
  rows: T[],
  limit: number,
  key: (row: T) => { createdAt: Date; id: string | bigint | number },
): {
  items: T[];
  nextCursor: string | null;
} {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  const last = key(items[items.length - 1]!);
  return { items, nextCursor: encodeCursor(last.createdAt, last.id) };
}
