// Network-namespace helpers for the kernel tests and the benchmark. Everything they create lives in
// namespaces named crns-<pid>-<n>-<random> that they delete afterwards, even on failure; the root
// namespace is never given an address, route or rule.
import { execFile, execFileSync, spawn, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const isRoot = process.getuid?.() === 0;
export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const FIXTURES_DIR = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (!isRoot)
    return 'not root: kernel tests need CAP_NET_ADMIN and network namespaces (CI runs them as root)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  const addon = new URL('../../tun/build/Release/corridor_tun.node', import.meta.url);
  if (!existsSync(addon))
    return 'the TUN addon is not built (pnpm install / pnpm --filter @corridor/tun run build:native)';
  return undefined;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command (no shell) and collects its output; rejects only when it cannot be spawned. */
export function run(
  cmd: string,
  args: string[],
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = options.timeoutMs
      ? setTimeout(() => {
          stderr += `\n[killed after ${options.timeoutMs} ms]`;
          child.kill('SIGKILL');
        }, options.timeoutMs)
      : undefined;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function ip(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, (err, _o, stderr) =>
      err ? reject(new Error(`ip ${args.join(' ')}: ${stderr || err.message}`)) : resolve(),
    );
  });
}

let counter = 0;
let swept = false;
const active = new Set<string>();

/** Synchronously deletes the namespaces this process still holds (for signal handlers). */
export function deleteActiveNamespacesSync(): void {
  for (const ns of active) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    active.delete(ns);
  }
}

/** Removes crns-<pid>-* namespaces left behind by processes that no longer exist. */
function sweepStale(): void {
  if (swept) return;
  swept = true;
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^crns-(\d+)-\d+-[0-9a-f]+$/.exec(n);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      void ip(['netns', 'del', n]).catch(() => undefined);
    }
  }
}

/** Creates a fresh namespace (loopback up), runs `fn`, and always deletes the namespace. */
export async function withNetns<T>(fn: (ns: string) => Promise<T>): Promise<T> {
  sweepStale();
  const ns = `crns-${process.pid}-${++counter}-${randomBytes(3).toString('hex')}`;
  await ip(['netns', 'add', ns]);
  active.add(ns);
  try {
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    return await fn(ns);
  } finally {
    await ip(['netns', 'del', ns]).catch(() => undefined);
    active.delete(ns);
  }
}

/** Node arguments to run a TypeScript fixture from source (tsx, "source" export condition). */
export function tsNodeArgs(script: string): string[] {
  return ['--import', 'tsx', '--conditions=source', `${FIXTURES_DIR}${script}`];
}

/** Runs a fixture scenario inside `ns`; parses its `RESULT {json}` line. */
export async function runScenario(
  ns: string,
  script: string,
  scenario: string,
  args: string[] = [],
  options: { timeoutMs?: number; prefix?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult & { result: Record<string, unknown> | undefined }> {
  const cmd = [
    'netns',
    'exec',
    ns,
    ...(options.prefix ?? []),
    process.execPath,
    ...tsNodeArgs(script),
    scenario,
    ...args,
  ];
  const r = await run('ip', cmd, {
    cwd: PACKAGE_DIR,
    timeoutMs: options.timeoutMs ?? 60_000,
    env: { ...process.env, ...options.env },
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  return {
    ...r,
    result: line ? (JSON.parse(line.slice('RESULT '.length)) as Record<string, unknown>) : undefined,
  };
}
