/**
 * Keyset pagination over (createdAt, id): the cursor is opaque to clients (base64url JSON) and
 * stable under inserts, unlike offsets.
 */
import { AppError, ERROR_CODES } from '../errors.js';
import { isStorableInstant } from './validation.js';

export interface KeysetCursor {
  t: string;
  id: string;
}

export function encodeCursor(createdAt: Date, id: string | bigint | number): string {
  return Buffer.from(JSON.stringify({ t: createdAt.toISOString(), id: String(id) })).toString('base64url');
}

/** What a cursor's `id` must look like for each keyset (a forged id must be a 400, not a DB error). */
export const CURSOR_ID = {
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  /** BigInt ids (audit events): up to 18 digits, always within int8. */
  bigint: /^[0-9]{1,18}$/,
  nodeId: /^[a-z0-9-]{1,32}$/,
} as const;

/** Largest page any listing serves (the schemas' PageLimit maximum). */
export const MAX_PAGE_SIZE = 200;

/**
 * Prisma `take` for a page of `limit` rows plus one look-ahead row. Never undefined, NaN or
 * unbounded: a limit that is not an integer in 1..MAX_PAGE_SIZE is a 400 even if a schema let it by.
 */
export function takeFor(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE)
    throw new AppError(ERROR_CODES.VALIDATION, `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  return limit + 1;
}

/**
 * Decodes a cursor made by `encodeCursor`; anything else (including a well-formed JSON cursor with
 * an id of the wrong kind or an instant outside the storable range, lib/validation.ts) is a 400.
 */
export function decodeCursor(cursor: string | undefined, idPattern: RegExp): KeysetCursor | undefined {
  if (cursor === undefined) return undefined;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null) {
      const { t, id } = v as Partial<KeysetCursor>;
      const ms = typeof t === 'string' ? Date.parse(t) : NaN;
      if (
        typeof t === 'string' &&
        typeof id === 'string' &&
        isStorableInstant(ms) &&
        new Date(ms).toISOString() === t &&
        idPattern.test(id)
      ) {
        return { t, id };
      }
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

/**
 * Prisma `where` fragment selecting the rows strictly after cursor `c` in `(timeField, id)` keyset
 * order (`{}` without a cursor). Wrapped in `AND` so it composes with filters that use `OR` too.
 */
export function afterCursor<Id>(
  c: KeysetCursor | undefined,
  order: 'asc' | 'desc',
  timeField: 'createdAt' | 'startedAt',
  toId: (raw: string) => Id,
): { AND?: [{ OR: Record<string, unknown>[] }] } {
  if (c === undefined) return {};
  const cmp = order === 'desc' ? 'lt' : 'gt';
  const t = new Date(c.t);
  return { AND: [{ OR: [{ [timeField]: { [cmp]: t } }, { [timeField]: t, id: { [cmp]: toId(c.id) } }] }] };
}
