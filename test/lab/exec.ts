// Running commands: in the root namespace (only `ip` and reads) or inside a lab namespace through
// `ip netns exec`, which also bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf.
// Every child runs in its own process group (detached) so a timeout kills the whole tree.
import { spawn } from 'node:child_process';
import { LabError } from './errors.js';

export type Command = string | readonly string[];

export interface ExecOptions {
  /** Written to the child's stdin, which is then closed. */
  input?: string | Buffer;
  /** Kill the process group after this long (default 30 s); the result then has timedOut: true. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface ExecResult {
  /** The command as run, for messages. */
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** code === 0 and not timed out. */
  ok: boolean;
  timedOut: boolean;
}

export const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
/** Output beyond this is dropped (the head is kept) so a chatty command cannot eat the test's memory. */
const MAX_OUTPUT = 64 * 1024 * 1024;

/** A string runs under `sh -c`; an array runs as is (no shell). */
export function toArgv(cmd: Command): string[] {
  if (typeof cmd === 'string') return ['sh', '-c', cmd];
  if (cmd.length === 0) throw new LabError('CORRIDOR_ERR_LAB_BAD_SPEC', 'empty command');
  return [...cmd];
}

export function netnsArgv(ns: string, cmd: Command): string[] {
  return ['ip', 'netns', 'exec', ns, ...toArgv(cmd)];
}

export function quote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Runs argv, collects its output; rejects only when it cannot be spawned at all. */
export function runArgv(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new LabError('CORRIDOR_ERR_LAB_BAD_SPEC', 'empty command'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      if (outLen < MAX_OUTPUT) out.push(d);
      outLen += d.length;
    });
    child.stderr.on('data', (d: Buffer) => {
      if (errLen < MAX_OUTPUT) err.push(d);
      errLen += d.length;
    });
    child.stdin.on('error', () => undefined); // the child may exit without reading its input
    child.stdin.end(options.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        missing
          ? new LabError('CORRIDOR_ERR_LAB_TOOL_MISSING', `${file} is not installed`, { cause: e })
          : new LabError('CORRIDOR_ERR_LAB_COMMAND_FAILED', `cannot run ${quote(argv)}: ${e.message}`, {
              cause: e,
            }),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        command: quote(argv),
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ok: code === 0 && !timedOut,
        timedOut,
      });
    });
  });
}

/** The error for a failed command, with its output. */
export function commandFailed(r: ExecResult, where: string): LabError {
  const how = r.timedOut ? 'timed out' : r.signal ? `was killed by ${r.signal}` : `exited with ${r.code}`;
  const tail = (s: string) => (s.length > 4000 ? `…${s.slice(-4000)}` : s).trim();
  return new LabError(
    r.timedOut ? 'CORRIDOR_ERR_LAB_TIMEOUT' : 'CORRIDOR_ERR_LAB_COMMAND_FAILED',
    `${where}: \`${r.command}\` ${how}` +
      (r.stdout.trim() ? `\n  stdout: ${tail(r.stdout)}` : '') +
      (r.stderr.trim() ? `\n  stderr: ${tail(r.stderr)}` : ''),
  );
}

/** Runs argv and throws a LabError with its output unless it exits 0; returns stdout. */
export async function runArgvOk(
  argv: readonly string[],
  where: string,
  options: ExecOptions = {},
): Promise<string> {
  const r = await runArgv(argv, options);
  if (!r.ok) throw commandFailed(r, where);
  return r.stdout;
}

/** `ip -n <ns> -batch -` (or in the root namespace without ns: only for `netns add|del`). */
export function ipBatch(ns: string | undefined, lines: readonly string[], where: string): Promise<string> {
  const argv = ns ? ['ip', '-n', ns, '-batch', '-'] : ['ip', '-batch', '-'];
  return runArgvOk(argv, where, { input: lines.map((l) => `${l}\n`).join('') });
}
