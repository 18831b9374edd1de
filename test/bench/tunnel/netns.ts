/**
 * The benchmark's two network namespaces and the processes inside them.
 *
 *   client ns  cbc-<sfx>  veth0 198.18.13.2/24 ──── veth0 198.18.13.1/24  node ns  cbn-<sfx>
 *
 * The veth pair is created inside the client namespace with its peer placed straight into the node
 * namespace: nothing is ever added to the root namespace (no address, route, rule or link). Each
 * namespace gets its own /etc/netns/<ns>/resolv.conf BEFORE anything runs in it, so `ip netns exec`
 * bind-mounts that file and the machine's own resolv.conf is never written. `down()` kills every
 * process started here (by pid, process group) and deletes both namespaces, whatever happened before.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

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

export class BenchNet {
  readonly suffix = randomBytes(3).toString('hex');
  readonly client = `cbc-${this.suffix}`;
  readonly node = `cbn-${this.suffix}`;
  private readonly procs = new Set<Proc>();
  private created: string[] = [];

  async up(): Promise<void> {
    for (const ns of [this.client, this.node]) {
      // Own resolv.conf first: `ip netns exec` then bind-mounts it over /etc/resolv.conf.
      mkdirSync(`/etc/netns/${ns}`, { recursive: true });
      writeFileSync(`/etc/netns/${ns}/resolv.conf`, 'nameserver 127.0.0.1\n');
      await must(['ip', 'netns', 'add', ns]);
      this.created.push(ns);
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
   * A long-running process in `ns`. `ip netns exec` execs the program, so `pid` is the program's own
   * (what CPU and memory figures are read from).
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
    void p.exited.then(() => this.procs.delete(p));
    return p;
  }

  async down(): Promise<void> {
    await Promise.all([...this.procs].map((p) => p.stop(3000)));
    // Anything that escaped its process group still lives in a namespace: kill it by pid.
    for (const ns of this.created) {
      const pids = await run(['ip', 'netns', 'pids', ns]).catch(() => null);
      for (const pid of (pids?.stdout ?? '').split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    for (const ns of this.created) {
      await run(['ip', 'netns', 'del', ns]).catch(() => undefined);
      rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    }
    this.created = [];
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
