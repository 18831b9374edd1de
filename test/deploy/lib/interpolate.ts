/**
 * Docker Compose variable interpolation, as `docker compose config` applies it to every string
 * value of a compose file: `$$` is a literal `$`; `${VAR}` and `$VAR`; `${VAR:-default}` (unset or
 * empty) and `${VAR-default}` (unset); `${VAR:?message}` / `${VAR?message}` fail; `${VAR:+alt}` /
 * `${VAR+alt}` substitute when set. Defaults and messages may themselves hold `${...}`.
 * Every variable looked at is added to `used`; every failed `?` is collected into one error.
 */
export class InterpolationError extends Error {
  constructor(readonly missing: readonly { name: string; message: string }[]) {
    super(`required variables missing: ${missing.map((m) => `${m.name} (${m.message})`).join(', ')}`);
    this.name = 'InterpolationError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

interface Context {
  env: Env;
  used: Set<string>;
  missing: { name: string; message: string }[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Index of the `}` that closes the `${` whose body starts at `start`, honouring nested `${...}`. */
function closingBrace(text: string, start: number): number {
  let depth = 1;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function expand(text: string, ctx: Context): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '$') {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i++;
      continue;
    }
    if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw new Error(`unterminated \${ in "${text}"`);
      out += substitute(text.slice(i + 2, end), ctx);
      i = end;
      continue;
    }
    const m = NAME.exec(text.slice(i + 1));
    if (m === null) {
      out += '$';
      continue;
    }
    ctx.used.add(m[0]);
    out += ctx.env[m[0]] ?? '';
    i += m[0].length;
  }
  return out;
}

function substitute(body: string, ctx: Context): string {
  const m = NAME.exec(body);
  if (m === null) throw new Error(`invalid interpolation "\${${body}}"`);
  const name = m[0];
  ctx.used.add(name);
  const value = ctx.env[name];
  const rest = body.slice(name.length);
  if (rest === '') return value ?? '';
  const op = /^(:?[-?+])/.exec(rest)?.[1];
  if (op === undefined) throw new Error(`invalid interpolation "\${${body}}"`);
  const arg = rest.slice(op.length);
  const set = op.startsWith(':') ? value !== undefined && value !== '' : value !== undefined;
  switch (op.slice(-1)) {
    case '-':
      return set ? (value as string) : expand(arg, ctx);
    case '+':
      return set ? expand(arg, ctx) : '';
    default:
      if (!set) ctx.missing.push({ name, message: expand(arg, ctx) });
      return value ?? '';
  }
}

/** Interpolates one string. Throws InterpolationError when a required variable is missing. */
export function interpolate(text: string, env: Env, used: Set<string> = new Set()): string {
  const ctx: Context = { env, used, missing: [] };
  const out = expand(text, ctx);
  if (ctx.missing.length > 0) throw new InterpolationError(ctx.missing);
  return out;
}

/**
 * Interpolates every string value of a parsed compose document (keys stay as written, like
 * Compose). Collects all missing variables of the whole document into one InterpolationError.
 */
export function interpolateDocument<T>(doc: T, env: Env, used: Set<string> = new Set()): T {
  const ctx: Context = { env, used, missing: [] };
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return expand(v, ctx);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  const out = walk(doc) as T;
  if (ctx.missing.length > 0) throw new InterpolationError(ctx.missing);
  return out;
}
