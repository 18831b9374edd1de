/**
 * Structured logs: one JSON object per line on stderr (`ts`, `level`, `msg`, fields). Secrets never
 * reach a log: callers pass short key forms (`shortKey`), ids and counts, never credentials, tokens,
 * tickets or private keys; `redact()` is applied to every field as a second line of defence.
 * `RateLimitedLog` keeps packet-path logs bounded: at most `perInterval` lines per key per interval,
 * then one summary line with the number suppressed.
 */
import type { LogLevel } from './config.js';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEYS = /token|credential|secret|password|private|ticket$/i;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

function redact(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_KEYS.test(k)) out[k] = '[redacted]';
    else if (v instanceof Error) out[k] = { message: v.message, code: (v as NodeJS.ErrnoException).code };
    else if (Buffer.isBuffer(v)) out[k] = `<${v.length} bytes>`;
    else out[k] = v;
  }
  return out;
}

export function createLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stderr.write(line),
  base: Record<string, unknown> = {},
): Logger {
  const min = LEVELS[level];
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[lvl] < min) return;
    write(
      JSON.stringify({
        ts: new Date().toISOString(),
        level: lvl,
        msg,
        ...base,
        ...(fields ? redact(fields) : {}),
      }) + '\n',
    );
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export class RateLimitedLog {
  private readonly windows = new Map<string, { start: number; count: number; suppressed: number }>();
  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
    private readonly perInterval = 5,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  warn(key: string, msg: string, fields?: Record<string, unknown>): void {
    const now = this.clock();
    let w = this.windows.get(key);
    if (w === undefined || now - w.start >= this.intervalMs) {
      if (w !== undefined && w.suppressed > 0) {
        this.log.warn(`${msg} (repeated)`, { key, suppressed: w.suppressed });
      }
      if (this.windows.size > 1000) this.windows.clear();
      w = { start: now, count: 0, suppressed: 0 };
      this.windows.set(key, w);
    }
    if (w.count < this.perInterval) {
      w.count++;
      this.log.warn(msg, fields);
    } else w.suppressed++;
  }
}
