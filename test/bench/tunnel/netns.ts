/**
 * The benchmark's two network namespaces and the processes inside them.
 *
 *   client ns  crl-<run>-bench-client  veth0 198.18.13.2/24 ── veth0 198.18.13.1/24  crl-<run>-bench-node
 *
 * The veth pair is created inside the client namespace with its peer placed straight into the node
 * namespace: nothing is ever added to the root namespace (no address, route, rule or link). Each
 * namespace gets its own /etc/netns/<ns>/resolv.conf BEFORE anything runs in it, so `ip netns exec`
 * bind-mounts that file and the machine's own resolv.conf is never written.
 *
 * Leftovers: the run is a lab run (test/lab/state.ts). Its record (/run/corridor-lab/<run>.json: owner
 * pid + start time, namespaces, process groups, work dir) is written BEFORE each namespace or process
 * exists, so a run killed at any moment (even SIGKILL) is removed by the next benchmark's start (runs
 * whose owner is gone, after a grace period) or at once by `pnpm lab:down`. `down()` kills every
 * process started here (process groups, then anything left inside the namespaces) and deletes both
 * namespaces, their /etc/netns dirs and the work dir, whatever happened before; an 'exit' handler
 * does the same synchronously should the benchmark die of an uncaught error.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import {
  cleanupRunSync,
  listNamespaces,
  newRunId,
  procStartTime,
  recordPath,
  sweepDeadRuns,
  workDirFor,
  writeRecord,
  type CleanupReport,
  type RunRecord,
} from '../../lab/state.js';
import { SWEEP_GRACE_MS } from '../../lab/lab.js';

export const NODE_VETH_IP = '198.18.13.1';
export const CLIENT_VETH_IP = '198.18.13.2';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (no shell); rejects only when it cannot be started or times out. */
export function run(
  argv: readonly string[],
  opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, env: opts.env, cwd: opts.cwd },
      (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException & { killed?: boolean }).killed)
          return reject(new Error(`${argv.join(' ')}: timed out\n${stderr}`));
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string')
          return reject(new Error(`${argv.join(' ')}: ${err.message}`));
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    child.stdin?.on('error', () => undefined); // a program that does not read its input
    child.stdin?.end(opts.input ?? '');
  });
}

/** Like run() but rejects on a non-zero exit, with the command's stderr. */
export async function must(argv: readonly string[], opts: Parameters<typeof run>[1] = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0)
    throw new Error(`${argv.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

export class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  private out = '';

  constructor(
    readonly name: string,
    argv: readonly string[],
    env: NodeJS.ProcessEnv,
    cwd?: string,
  ) {
    const [file, ...args] = argv as [string, ...string[]];
    this.child = spawn(file, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child.on('error', () => undefined);
    if (this.child.pid === undefined) throw new Error(`cannot start ${argv.join(' ')}`);
    this.pid = this.child.pid;
    const keep = (d: Buffer) => {
      this.out += d.toString();
      if (this.out.length > 1 << 20) this.out = this.out.slice(-(1 << 19));
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.stdin?.on('error', () => undefined);
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  get output(): string {
    return this.out;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first match of `pattern` in the output; rejects on exit or timeout. */
  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.out);
      if (m) return m;
      if (!this.running)
        throw new Error(`${this.name} exited before printing ${pattern}:\n${this.out.slice(-3000)}`);
      if (Date.now() > end)
        throw new Error(`${this.name}: no ${pattern} within ${timeoutMs} ms:\n${this.out.slice(-3000)}`);
      await sleep(50);
    }
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    const signal = (s: NodeJS.Signals) => {
      try {
        process.kill(-this.pid, s);
      } catch {
        // already gone
      }
    };
    signal('SIGTERM');
    const t = setTimeout(() => signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Earlier versions named the namespaces cbc-<hex> / cbn-<hex> and kept no record. Such a pair is
 * removed when neither namespace holds a process (a live run always has its iperf3 server in the node
 * namespace) and both are older than the grace period.
 */
function sweepLegacyNamespaces(): void {
  const all = listNamespaces();
  for (const node of all) {
    const m = /^cbn-([0-9a-f]{6})$/.exec(node);
    if (!m) continue;
    const pair = [node, `cbc-${m[1]}`].filter((ns) => all.includes(ns));
    const old = pair.every((ns) => {
      try {
        return Date.now() - statSync(`/run/netns/${ns}`).mtimeMs > SWEEP_GRACE_MS;
      } catch {
        return false;
      }
    });
    const empty = pair.every(
      (ns) => spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout?.trim() === '',
    );
    if (!old || !empty) continue;
    for (const ns of pair) {
      spawnSync('ip', ['netns', 'del', ns]);
      rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    }
  }
}

export class BenchNet {
  readonly runId = newRunId();
  readonly client = `crl-${this.runId}-bench-client`;
  readonly node = `crl-${this.runId}-bench-node`;
  /** Work dir (controller data, PKI, vpnctl home): removed with the run. */
  readonly dir = workDirFor(this.runId, 'bench-tunnel');
  private readonly procs = new Set<Proc>();
  private readonly record: RunRecord = {
    version: 1,
    runId: this.runId,
    label: 'bench-tunnel',
    owner: { pid: process.pid, startTime: procStartTime(process.pid) },
    createdAt: new Date().toISOString(),
    dir: this.dir,
    keepDir: false,
    namespaces: [],
    processes: [],
  };
  private recorded = false;
  private closed = false;
  private readonly onExit = () => this.downSync();

  /**
   * Removes what killed benchmark (and lab) runs left behind: runs whose owner process is gone and
   * that are older than the lab's grace period. Returns what was removed.
   */
  static sweep(): CleanupReport[] {
    sweepLegacyNamespaces();
    return sweepDeadRuns(SWEEP_GRACE_MS);
  }

  /** Writes the run record (intent log). Once removed from outside (`lab down --force`), not rewritten. */
  private persist(): void {
    if (this.closed || (this.recorded && !existsSync(recordPath(this.runId)))) return;
    writeRecord(this.record);
    this.recorded = true;
  }

  async up(): Promise<void> {
    process.on('exit', this.onExit);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.persist();
    for (const ns of [this.client, this.node]) {
      this.record.namespaces.push(ns);
      this.persist();
      // Own resolv.conf first: `ip netns exec` then bind-mounts it over /etc/resolv.conf.
      mkdirSync(`/etc/netns/${ns}`, { recursive: true });
      writeFileSync(`/etc/netns/${ns}/resolv.conf`, 'nameserver 127.0.0.1\n');
      await must(['ip', 'netns', 'add', ns]);
      await must(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await must([
      'ip',
      '-n',
      this.client,
      'link',
      'add',
      'veth0',
      'type',
      'veth',
      'peer',
      'name',
      'veth0',
      'netns',
      this.node,
    ]);
    for (const [ns, ip] of [
      [this.client, CLIENT_VETH_IP],
      [this.node, NODE_VETH_IP],
    ] as const) {
      await must(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'veth0']);
      await must(['ip', '-n', ns, 'link', 'set', 'veth0', 'up']);
    }
  }

  /** `ip netns exec <ns> argv...` to completion. */
  exec(ns: string, argv: readonly string[], opts: Parameters<typeof run>[1] = {}): Promise<RunResult> {
    return run(['ip', 'netns', 'exec', ns, ...argv], opts);
  }

  mustExec(ns: string, argv: readonly string[], opts: Parameters<typeof run>[1] = {}): Promise<string> {
    return must(['ip', 'netns', 'exec', ns, ...argv], opts);
  }

  /**
   * A long-running process in `ns`, in its own process group (recorded in the run record). `ip netns
   * exec` execs the program, so `pid` is the program's own (what CPU and memory figures are read from).
   */
  spawn(
    ns: string,
    name: string,
    argv: readonly string[],
    env: NodeJS.ProcessEnv = process.env,
    cwd?: string,
  ): Proc {
    const p = new Proc(name, ['ip', 'netns', 'exec', ns, ...argv], env, cwd);
    this.procs.add(p);
    this.record.processes.push({ pid: p.pid, startTime: procStartTime(p.pid), name });
    this.persist();
    void p.exited.then(() => {
      this.procs.delete(p);
      if (this.closed) return;
      this.record.processes = this.record.processes.filter((r) => r.pid !== p.pid);
      this.persist();
    });
    return p;
  }

  /** Stops the processes (SIGTERM, then SIGKILL), then removes the run (cleanupRunSync). Idempotent. */
  async down(): Promise<void> {
    await Promise.all([...this.procs].map((p) => p.stop(3000)));
    this.downSync();
  }

  /** Synchronous removal (also the 'exit' handler): kills what is left, deletes namespaces and dirs. */
  downSync(): void {
    if (this.closed) return;
    this.closed = true;
    process.off('exit', this.onExit);
    const report = cleanupRunSync(this.record);
    if (report.problems.length > 0)
      process.stderr.write(`[bench:tunnel] cleanup of run ${this.runId}: ${report.problems.join('; ')}\n`);
  }
}

/** CPU seconds (user + system, all threads) of a process so far; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is state (field 3); utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux/x86_64

/** Resident set size and its peak (VmRSS, VmHWM) in MiB. */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  } catch {
    return { rss: 0, peak: 0 };
  }
}
