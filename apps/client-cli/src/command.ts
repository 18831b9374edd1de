/**
 * The declarative shape of a `vpnctl` command (one folder per command under `commands/`):
 * `command.ts` declares the spec (options, positionals, help text) and `index.ts` holds the handler,
 * which receives the parsed arguments and an injected `CliContext` (streams, TTY state, paths,
 * config store, API client factory, prompter). Handlers never touch `process` directly, so tests run
 * them with fake streams and temporary directories.
 *
 * Parsing is strict: an unknown option, a missing value or a wrong number of positionals is a
 * `UsageError` (help printed, exit 2) before the handler runs.
 */
import { parseArgs } from 'node:util';
import type { CliContext } from './context.js';
import { UsageError } from './errors.js';

export interface OptionSpec {
  /** Long name without dashes: `password-stdin`. */
  readonly name: string;
  readonly type: 'boolean' | 'string';
  /** May be given more than once (`--split 10.0.0.0/8 --split 192.168.0.0/16`). */
  readonly multiple?: boolean;
  readonly short?: string;
  /** Placeholder in help: `--server URL`. */
  readonly value?: string;
  readonly description: string;
  /** Allowed values of a string option (checked by the parser). */
  readonly choices?: readonly string[];
}

export interface PositionalSpec {
  readonly name: string;
  readonly description: string;
  readonly required?: boolean;
  /** Takes every remaining positional (last one only). */
  readonly variadic?: boolean;
}

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  /** Usage lines, without the leading two spaces. */
  readonly usage: readonly string[];
  readonly options: readonly OptionSpec[];
  readonly positionals: readonly PositionalSpec[];
  readonly examples: readonly string[];
  /** Extra paragraphs printed after Examples (e.g. the --json format). */
  readonly notes?: readonly string[];
  /** Hidden from the root help (internal commands). */
  readonly hidden?: boolean;
}

export type OptionValue = string | boolean | string[] | undefined;

export interface ParsedArgs {
  readonly options: Readonly<Record<string, OptionValue>>;
  readonly positionals: readonly string[];
}

export interface Command {
  readonly spec: CommandSpec;
  run(args: ParsedArgs, ctx: CliContext): Promise<number>;
}

/** Options every command accepts; handled by the dispatcher. */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { name: 'help', short: 'h', type: 'boolean', description: 'show this help' },
  { name: 'debug', type: 'boolean', description: 'show stack traces and request details on errors' },
];

/** Parses `argv` against the spec; throws UsageError for anything the spec does not allow. */
export function parseCommandArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const all = [...spec.options, ...GLOBAL_OPTIONS];
  const options: Record<string, { type: 'boolean' | 'string'; multiple?: boolean; short?: string }> = {};
  for (const o of all) {
    options[o.name] = { type: o.type, ...(o.multiple ? { multiple: true } : {}) };
    if (o.short) options[o.name]!.short = o.short;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(usageText(e));
  }
  const values = parsed.values as Record<string, OptionValue>;
  for (const o of spec.options) {
    const v = values[o.name];
    if (o.choices && v !== undefined) {
      for (const one of Array.isArray(v) ? v : [v]) {
        if (typeof one === 'string' && !o.choices.includes(one)) {
          throw new UsageError(`--${o.name} must be one of ${o.choices.join(', ')} (got '${one}')`);
        }
      }
    }
    if (o.type === 'string' && typeof v === 'string' && v.startsWith('--')) {
      throw new UsageError(`--${o.name} needs a value (got '${v}')`);
    }
  }
  const positionals = parsed.positionals;
  const required = spec.positionals.filter((p) => p.required).length;
  const variadic = spec.positionals.some((p) => p.variadic);
  if (positionals.length < required) {
    const missing = spec.positionals[positionals.length]!;
    throw new UsageError(`missing <${missing.name}>`);
  }
  if (!variadic && positionals.length > spec.positionals.length) {
    throw new UsageError(`unexpected argument '${positionals[spec.positionals.length]}'`);
  }
  return { options: values, positionals };
}

function usageText(e: unknown): string {
  const code = (e as { code?: string }).code;
  const message = e instanceof Error ? e.message : String(e);
  // node:util's messages are good but long; keep their first sentence.
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const m = /Unknown option '([^']+)'/.exec(message);
    return `unknown option ${m ? `'${m[1]}'` : ''}`.trim();
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const m = /Option '([^' ]+)/.exec(message);
    if (!m) return message.split('.')[0]!;
    return /does not take/.test(message)
      ? `option '${m[1]}' does not take a value`
      : `option '${m[1]}' needs a value`;
  }
  return message.split('\n')[0]!;
}

/** Typed accessors for parsed options. */
export function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.options[name];
  return typeof v === 'string' ? v : undefined;
}
export function bool(args: ParsedArgs, name: string): boolean {
  return args.options[name] === true;
}
export function list(args: ParsedArgs, name: string): string[] {
  const v = args.options[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/** Help text in the house format: summary, Usage, Arguments, Options, Examples. */
export function formatHelp(spec: CommandSpec): string {
  const lines = [spec.summary, '', 'Usage:', ...spec.usage.map((u) => `  ${u}`)];
  if (spec.positionals.length > 0) {
    lines.push('', 'Arguments:');
    const width = Math.max(...spec.positionals.map((p) => p.name.length + 2));
    for (const p of spec.positionals) lines.push(`  ${`<${p.name}>`.padEnd(width)}  ${p.description}`);
  }
  const opts = [...spec.options, ...GLOBAL_OPTIONS];
  lines.push('', 'Options:');
  const flag = (o: OptionSpec) =>
    `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.value ? ` ${o.value}` : ''}${o.multiple ? ' ...' : ''}`;
  const width = Math.max(...opts.map((o) => flag(o).length));
  for (const o of opts) lines.push(`  ${flag(o).padEnd(width)}  ${o.description}`);
  if (spec.examples.length > 0) {
    lines.push('', 'Examples:');
    for (const e of spec.examples) lines.push(`  ${e}`);
  }
  for (const n of spec.notes ?? []) lines.push('', n);
  return lines.join('\n') + '\n';
}
