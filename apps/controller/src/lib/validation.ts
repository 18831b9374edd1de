/**
 * The one input-validation layer every route shares: the app's schema validator compiler.
 *
 * Contract, for every request part a route declares (body, querystring, params, headers):
 *  - JSON bodies are validated as sent: no type coercion (`"1e309"` is not a number in a body).
 *    Query strings, params and headers are text on the wire and are coerced to the schema's types.
 *  - Numbers are finite. JSON.parse turns `1e309` into Infinity and coercion turns `"1e309"` or a
 *    400-digit string into Infinity; both are a 400.
 *  - Strings, values and object keys alike, hold no NUL (PostgreSQL text cannot) and no unpaired
 *    UTF-16 surrogate (not encodable as UTF-8: Prisma and PostgreSQL fail on them).
 *  - `date-time` is RFC 3339 with an upper-case `T` and `Z` or a numeric offset, no leap second,
 *    and names an instant from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z once the offset is
 *    applied (the range both `Date` and PostgreSQL hold: `9999-12-31T23:59:59-05:00` is year 10000).
 *    `date` is `YYYY-MM-DD` with a real day of a year 0001..9999. Cursors that carry instants are
 *    checked against the same range (lib/pagination.ts).
 * Failures surface as Fastify validation errors, which the error handler answers with 400
 * CORRIDOR_ERR_VALIDATION and the offending path.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

/** 0001-01-01T00:00:00.000Z */
export const MIN_INSTANT_MS = -62_135_596_800_000;
/** 9999-12-31T23:59:59.999Z */
export const MAX_INSTANT_MS = 253_402_300_799_999;

/** True for an epoch-ms value inside the storable instant range. */
export function isStorableInstant(ms: number): boolean {
  return Number.isFinite(ms) && ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS;
}

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|([+-])(\d{2}):(\d{2}))$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(year: number, month: number): number {
  return month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1]!;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function validDay(y: number, m: number, d: number): boolean {
  return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m);
}

/**
 * Epoch ms of an RFC 3339 date-time inside the storable range, or undefined. The result always
 * equals `Date.parse(value)`, so code downstream may use `new Date(value)`.
 */
export function parseInstant(value: string): number | undefined {
  const m = DATE_TIME.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (!validDay(y, mo, d) || h > 23 || mi > 59 || s > 59) return undefined;
  if (m[8] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return undefined;
  const ms = Date.parse(value);
  if (!isStorableInstant(ms)) return undefined;
  return ms;
}

/** True for `YYYY-MM-DD` naming a real day of a year 0001..9999. */
export function isStorableDay(value: string): boolean {
  const m = DATE.exec(value);
  return m !== null && validDay(Number(m[1]), Number(m[2]), Number(m[3]));
}

/** NUL, or a surrogate that is not part of a pair. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSAFE_CHAR = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Deeper than any schema the controller declares; bounds the walk on hostile input. */
const MAX_DEPTH = 32;

export interface UnsafeValue {
  /** JSON pointer of the value inside the validated part. */
  path: string;
  message: string;
}

/**
 * The first value in `data` that the layer refuses: a non-finite number, or a string (value or
 * key) with NUL or an unpaired surrogate. Runs after the schema has accepted `data`.
 */
export function findUnsafeValue(data: unknown, path = '', depth = 0): UnsafeValue | undefined {
  if (typeof data === 'string') {
    return UNSAFE_CHAR.test(data)
      ? { path, message: 'must not contain NUL characters or unpaired UTF-16 surrogates' }
      : undefined;
  }
  if (typeof data === 'number') {
    return Number.isFinite(data) ? undefined : { path, message: 'must be a finite number' };
  }
  if (typeof data !== 'object' || data === null) return undefined;
  if (depth >= MAX_DEPTH) return { path, message: 'is nested too deeply' };
  if (Array.isArray(data)) {
    for (let i = 0; i < data.length; i++) {
      const bad = findUnsafeValue(data[i], `${path}/${i}`, depth + 1);
      if (bad) return bad;
    }
    return undefined;
  }
  for (const [key, value] of Object.entries(data)) {
    const p = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (UNSAFE_CHAR.test(key))
      return { path: p, message: 'property names must not contain NUL or unpaired surrogates' };
    const bad = findUnsafeValue(value, p, depth + 1);
    if (bad) return bad;
  }
  return undefined;
}

function makeAjv(coerceTypes: false | 'array'): Ajv {
  const ajv = new Ajv({
    coerceTypes,
    useDefaults: true,
    // Unknown properties are refused (schemas say additionalProperties: false), never stripped.
    removeAdditional: false,
    // allErrors would let one hostile request make the validator do unbounded work.
    allErrors: false,
    strictNumbers: true,
    addUsedSchema: false,
  });
  addFormats.default(ajv);
  ajv.addFormat('date-time', { type: 'string', validate: (v: string) => parseInstant(v) !== undefined });
  ajv.addFormat('date', { type: 'string', validate: isStorableDay });
  return ajv;
}

/** Fastify validator compiler implementing the contract above. */
export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const forBodies = makeAjv(false);
  const forText = makeAjv('array');
  return ({ schema, httpPart }) => {
    const validate: ValidateFunction = (httpPart === 'body' ? forBodies : forText).compile(schema as object);
    const check = (data: unknown): boolean => {
      if (!validate(data)) {
        check.errors = validate.errors;
        return false;
      }
      const bad = findUnsafeValue(data);
      if (bad !== undefined) {
        check.errors = [
          { instancePath: bad.path, message: bad.message, keyword: 'safeInput', schemaPath: '#', params: {} },
        ];
        return false;
      }
      check.errors = null;
      return true;
    };
    check.errors = null as ErrorObject[] | null | undefined;
    return check;
  };
}
