/**
 * Schema-driven request generation for the fuzz suite: reads the controller's own OpenAPI document
 * (GET /docs/json) and derives fast-check arbitraries for every operation's path parameters, query
 * and JSON body, each value either drawn from its schema (so requests get past validation and reach
 * handlers, repositories and the database) or replaced by a hand-written hostile value (NUL, lone
 * surrogates, numbers that overflow to Infinity, dates PostgreSQL cannot store, forged cursors,
 * injection strings, wrong types, huge strings), plus raw hostile bodies and content types.
 *
 * Pure generation, no I/O: fuzz.test.ts sends the requests.
 */
import fc from 'fast-check';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  $ref?: string;
}

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema: JsonSchema;
}

export interface Operation {
  method: string;
  /** OpenAPI template, `/v1/devices/{deviceId}`. */
  path: string;
  operationId: string;
  parameters: Parameter[];
  body: JsonSchema | undefined;
  /** Documented response statuses. */
  statuses: Set<number>;
}

interface OpenApiDoc {
  paths: Record<
    string,
    Record<
      string,
      {
        operationId?: string;
        parameters?: Parameter[];
        requestBody?: { content?: Record<string, { schema: JsonSchema }> };
        responses?: Record<string, unknown>;
      }
    >
  >;
  components?: { schemas?: Record<string, JsonSchema> };
}

/** Every operation of the document, `$ref`s resolved. */
export function operationsOf(doc: OpenApiDoc): Operation[] {
  const resolve = (s: JsonSchema): JsonSchema => {
    if (s.$ref) {
      const name = s.$ref.split('/').pop()!;
      return resolve(doc.components?.schemas?.[name] ?? {});
    }
    return s;
  };
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      ops.push({
        method: method.toUpperCase(),
        path,
        operationId: op.operationId ?? `${method} ${path}`,
        parameters: (op.parameters ?? []).map((p) => ({ ...p, schema: resolve(p.schema) })),
        body: op.requestBody?.content?.['application/json']?.schema
          ? resolve(op.requestBody.content['application/json'].schema)
          : undefined,
        statuses: new Set(Object.keys(op.responses ?? {}).map(Number)),
      });
    }
  }
  return ops;
}

/** Known-good ids from the fixture, so generated requests also hit existing rows. */
export interface KnownIds {
  userIds: string[];
  deviceIds: string[];
  nodeIds: string[];
  ticketIds: string[];
  publicKeys: string[];
  cursors: string[];
}

/** Marks a number that must be written into JSON as raw text (JSON.stringify cannot: 1e309). */
export interface RawNumber {
  __raw: string;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const UUID = '3f2b8c1e-4b7e-4f0a-9b3a-1a2b3c4d5e6f';

/** Hand-written hostile values, each a class that once broke (or could break) the controller. */
export const HOSTILE_STRINGS: readonly string[] = [
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\ud800x',
  'x\udc00',
  '\udfff\ud800',
  '1e309',
  '-1e309',
  '9'.repeat(400),
  '-' + '9'.repeat(400),
  'NaN',
  'Infinity',
  '0x10',
  ' 5',
  '',
  ' ',
  '0000-01-01T00:00:00Z',
  '0001-01-01T00:00:00+00:01',
  '9999-12-31T23:59:59-05:00',
  '+010000-01-01T00:00:00Z',
  '2024-02-30T00:00:00Z',
  '2024-01-01T23:59:60Z',
  '0000-01-01',
  '10000-01-01',
  '-000001-01-01T00:00:00Z',
  "' OR '1'='1",
  '"; --',
  '../../../../etc/passwd',
  '%00',
  '%',
  '<img src=x onerror=alert(1)>',
  '${jndi:ldap://x}',
  '\u202eevil',
  '😀'.repeat(40),
  'x'.repeat(5_000),
  '__proto__',
  'constructor',
  b64({ t: '0000-01-01T00:00:00.000Z', id: UUID }),
  b64({ t: '+010000-01-01T00:00:00.000Z', id: UUID }),
  b64({ t: '2024-01-01T00:00:00.000Z', id: "1' OR '1" }),
  b64({ t: '2024-01-01T00:00:00.000Z', id: '9'.repeat(30) }),
  b64({ t: 5, id: 7 }),
  b64([1, 2]),
  b64('x'),
  '0.999999999999999999',
  '0.1',
  '18446744073709551616',
];

const HOSTILE_OTHER: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  -0,
  1.5,
  2 ** 53,
  -(2 ** 63),
  1e308,
  { __raw: '1e309' } satisfies RawNumber,
  { __raw: '-1e309' } satisfies RawNumber,
  { __raw: '1' + '0'.repeat(400) } satisfies RawNumber,
  { __raw: '1e-400' } satisfies RawNumber,
  [],
  [1, 'a', null],
  {},
  { a: { b: { c: {} } } },
  { __proto__: { admin: true } },
];

export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_OTHER) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
);

function stringFor(s: JsonSchema, known: KnownIds): fc.Arbitrary<string> {
  const max = s.maxLength ?? 64;
  const min = s.minLength ?? 0;
  // Lengths are fitted by repeating or cutting, never by filtering (a filter that rarely passes
  // would stall generation).
  const fit = (a: fc.Arbitrary<string>) =>
    a.map((v) => (v.length >= min || v.length === 0 ? v : v.repeat(Math.ceil(min / v.length))).slice(0, max));
  switch (s.format) {
    case 'uuid':
      return fc.oneof(
        fc.uuid(),
        fc.constantFrom(...known.userIds, ...known.deviceIds, ...known.ticketIds, UUID),
      );
    case 'date-time':
      return fc
        .date({
          min: new Date('0001-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59Z'),
          noInvalidDate: true,
        })
        .map((d) => d.toISOString());
    case 'date':
      return fc
        .date({
          min: new Date('0001-01-01T00:00:00Z'),
          max: new Date('9999-12-31T00:00:00Z'),
          noInvalidDate: true,
        })
        .map((d) => d.toISOString().slice(0, 10));
    case 'email':
      return fc.emailAddress().map((e) => e.slice(0, max));
    case 'ipv4':
      return fc.ipV4();
    case 'ipv6':
      return fc.ipV6();
    case 'hostname':
      return fc.domain().map((d) => d.slice(0, max));
  }
  if (s.pattern) {
    const known4 = /x25519pub/.test(s.pattern)
      ? known.publicKeys
      : /\^\[a-z0-9\]\+\(-\[a-z0-9\]\+\)\*\$/.test(s.pattern)
        ? known.nodeIds
        : /_\.:-/.test(s.pattern)
          ? known.cursors
          : [];
    const gen = fit(fc.stringMatching(new RegExp(s.pattern)));
    return known4.length > 0 ? fc.oneof(gen, fc.constantFrom(...known4)) : gen;
  }
  return fit(fc.string({ minLength: min, maxLength: Math.min(max, 80), unit: 'grapheme' }));
}

/** Values valid for `s` (mostly), with hostile ones mixed in at every level. */
export function valueFor(s: JsonSchema, known: KnownIds, depth = 0): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 5, arbitrary: validFor(s, known, depth) },
    { weight: 1, arbitrary: hostileValue },
  );
}

function validFor(s: JsonSchema, known: KnownIds, depth: number): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const union = s.anyOf ?? s.oneOf;
  if (union) return fc.oneof(...union.map((u) => validFor(u, known, depth)));
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string':
      return stringFor(s, known);
    case 'integer':
      return fc.integer({
        min: Math.max(s.minimum ?? -(2 ** 31), Number.MIN_SAFE_INTEGER),
        max: Math.min(s.maximum ?? 2 ** 31, Number.MAX_SAFE_INTEGER),
      });
    case 'number':
      return fc.double({
        min: s.minimum ?? -1e6,
        max: s.maximum ?? 1e6,
        noNaN: true,
        noDefaultInfinity: true,
      });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      if (depth > 4 || !s.items) return fc.constant([]);
      return fc.array(valueFor(s.items, known, depth + 1), {
        minLength: s.minItems ?? 0,
        maxLength: Math.min(s.maxItems ?? 4, 4),
      });
    }
    case 'object': {
      if (depth > 4) return fc.constant({});
      const props = s.properties ?? {};
      const required = new Set(s.required ?? []);
      const entries = Object.entries(props).map(([k, v]) => [k, valueFor(v, known, depth + 1)] as const);
      const record = fc.record(Object.fromEntries(entries), {
        requiredKeys: [...required].filter((k) => k in props),
      });
      // Sometimes a required property goes missing or an unknown one appears.
      return fc
        .tuple(record, fc.nat(9), fc.constantFrom('extra', '__proto__', 'constructor', '\u0000'))
        .map(([obj, roll, extra]) => {
          const o = { ...(obj as Record<string, unknown>) };
          if (roll === 0) {
            const keys = Object.keys(o);
            if (keys.length > 0) delete o[keys[0]!];
          } else if (roll === 1) o[extra] = 1;
          return o;
        });
    }
  }
  return fc.anything({ maxDepth: 2 });
}

/** Raw bodies that are not what any schema describes. */
export const RAW_BODIES: readonly string[] = [
  '',
  '{',
  '[',
  'null',
  '"string"',
  '12',
  '{"a":1e309}',
  '{"__proto__":{"isAdmin":true}}',
  '{"constructor":{"prototype":{"isAdmin":true}}}',
  '['.repeat(20_000) + ']'.repeat(20_000),
  '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000),
  `{"x":"${'\\ud800'.repeat(100)}"}`,
  '{"x":"\\u0000"}',
  '\u0000\u0000\u0000',
  '{"x": "a" "b"}',
];

export const CONTENT_TYPES: readonly (string | undefined)[] = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  undefined,
  'application/json\u00e9',
];

export interface FuzzRequest {
  method: string;
  /** Request target: path (params filled and percent-encoded) and query string. */
  url: string;
  /** Raw body text, or undefined for none. */
  body: string | Buffer | undefined;
  contentType: string | undefined;
  operationId: string;
}

/**
 * encodeURIComponent, except that an unpaired surrogate (which encodeURIComponent refuses) is
 * written as its three WTF-8 bytes: invalid UTF-8 in the URL, exactly what a hostile client sends.
 */
export function percentEncode(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      out += encodeURIComponent(text.slice(i, i + 2));
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      out += `%${(0xe0 | (c >> 12)).toString(16).toUpperCase()}%${(0x80 | ((c >> 6) & 0x3f)).toString(16).toUpperCase()}%${(0x80 | (c & 0x3f)).toString(16).toUpperCase()}`;
    } else {
      out += encodeURIComponent(text[i]!);
    }
  }
  return out;
}

/** Query string from `[name, value]` pairs; arrays repeat the key; objects are JSON. */
function queryString(pairs: [string, unknown][]): string {
  const parts: string[] = [];
  for (const [k, v] of pairs) {
    for (const item of Array.isArray(v) ? v : [v]) {
      const text =
        item !== null && typeof item === 'object'
          ? '__raw' in (item as object)
            ? (item as RawNumber).__raw
            : JSON.stringify(item)
          : String(item);
      parts.push(`${percentEncode(k)}=${percentEncode(text)}`);
    }
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** JSON text of `v`, writing RawNumber markers as raw number literals. */
export function toJsonText(v: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(v, (_k, val: unknown) => {
    if (val !== null && typeof val === 'object' && '__raw' in (val as object)) {
      marks.push((val as RawNumber).__raw);
      return `\u0001RAW${marks.length - 1}\u0001`;
    }
    return val;
  });
  return (text ?? 'null').replace(/"\\u0001RAW(\d+)\\u0001"/g, (_m, i: string) => marks[Number(i)]!);
}

/** Arbitrary requests for `op`. `waitMax` caps long-poll waits so the fuzzer never stalls. */
export function requestFor(op: Operation, known: KnownIds): fc.Arbitrary<FuzzRequest> {
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const pathArb = fc.tuple(...pathParams.map((p) => valueFor(p.schema, known)));
  const queryArb = fc.tuple(
    ...queryParams.map((p) => {
      // Long polls are capped at one second: the fuzzer must not stall for a minute per request.
      const v =
        p.name === 'wait'
          ? fc.oneof(fc.integer({ min: 0, max: 1 }), hostileValue)
          : valueFor(p.schema, known);
      return fc.option(
        fc.oneof({ weight: 6, arbitrary: v }, { weight: 1, arbitrary: fc.array(v, { maxLength: 3 }) }),
        {
          freq: 2,
        },
      );
    }),
  );
  const bodyArb: fc.Arbitrary<{ body: string | Buffer | undefined; contentType: string | undefined }> =
    op.body === undefined
      ? fc.oneof(
          { weight: 8, arbitrary: fc.constant({ body: undefined, contentType: undefined }) },
          {
            weight: 1,
            arbitrary: fc.record({
              body: fc.constantFrom(...RAW_BODIES),
              contentType: fc.constantFrom(...CONTENT_TYPES),
            }),
          },
        )
      : fc.oneof(
          {
            weight: 12,
            arbitrary: valueFor(op.body, known).map((v) => ({
              body: toJsonText(v),
              contentType: 'application/json',
            })),
          },
          {
            weight: 2,
            arbitrary: fc.record({
              body: fc.constantFrom(...RAW_BODIES),
              contentType: fc.constant('application/json'),
            }),
          },
          {
            weight: 1,
            arbitrary: fc.record({
              body: valueFor(op.body, known).map(toJsonText),
              contentType: fc.constantFrom(...CONTENT_TYPES),
            }),
          },
          {
            weight: 1,
            // Invalid UTF-8 inside an otherwise valid JSON document.
            arbitrary: fc.constant({
              body: Buffer.concat([
                Buffer.from('{"name":"'),
                Buffer.from([0xed, 0xa0, 0x80, 0xff]),
                Buffer.from('"}'),
              ]),
              contentType: 'application/json',
            }),
          },
        );
  return fc.tuple(pathArb, queryArb, bodyArb).map(([pathValues, queryValues, b]) => {
    let path = op.path;
    pathParams.forEach((p, i) => {
      const v = pathValues[i];
      const text = v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);
      path = path.replace(`{${p.name}}`, percentEncode(text));
    });
    const pairs: [string, unknown][] = [];
    queryParams.forEach((p, i) => {
      const v = queryValues[i];
      if (v !== null && v !== undefined) pairs.push([p.name, v]);
    });
    return { method: op.method, url: path + queryString(pairs), ...b, operationId: op.operationId };
  });
}

/**
 * Text that must never appear in an error answer: database, ORM, driver and runtime internals.
 * (Hostile inputs above avoid these words, so an echo of input cannot trip it.)
 */
export const INTERNAL_TEXT =
  /PrismaClient|prisma\.|Invalid `|postgres|pg_catalog|duplicate key|violates|constraint "|syntax error at|invalid input syntax|invalid byte sequence|unterminated|node_modules|\.ts:\d+|\.js:\d+|ECONNREFUSED|ECONNRESET|ioredis|ReplyError|TypeError|ReferenceError|RangeError|Cannot read prop|is not a function|undefined is not|Maximum call stack/i;
