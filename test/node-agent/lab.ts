/**
 * A minimal, throwaway network-namespace lab for the node-agent integration tests, until the shared
 * lab library (test/lab) lands on main and replaces it. Everything lives in namespaces named
 * `cn<role>-<suffix>` that this file creates and deletes (also on failure); the root namespace gets no
 * address, route or rule. Addresses: lab link 198.18.0.0/24, lab "internet" 203.0.113.0/24 and
 * 2001:db8:ee::/64, all inside the namespaces.
 *
 *   controller ns  198.18.0.2 ─┐
 *   node ns        198.18.0.3 ─┼─ bridge (switch ns)
 *   client ns      198.18.0.4 ─┘
 *   node ns wan0 203.0.113.1 / 2001:db8:ee::1 ── web ns 203.0.113.10 / 2001:db8:ee::10 (no route back
 *   to the tunnel subnets: replies only arrive when the node masquerades)
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function labSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0)
    return 'not root: the node-agent lab needs network namespaces, TUN and nftables (CI runs as root)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  return undefined;
}

export function sh(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

export interface Proc {
  child: ChildProcess;
  log: string[];
  name: string;
  exited: Promise<number | null>;
}

export class Lab {
  readonly suffix = randomBytes(3).toString('hex');
  readonly ns = {
    sw: `cnsw-${this.suffix}`,
    ctl: `cnctl-${this.suffix}`,
    node: `cnnode-${this.suffix}`,
    cli: `cncli-${this.suffix}`,
    web: `cnweb-${this.suffix}`,
  };
  readonly addr = {
    ctl: '198.18.0.2',
    node: '198.18.0.3',
    cli: '198.18.0.4',
    wan: '203.0.113.1',
    web: '203.0.113.10',
    wan6: '2001:db8:ee::1',
    web6: '2001:db8:ee::10',
  };
  private readonly procs = new Set<Proc>();
  readonly dir: string;

  constructor(tmp: string) {
    this.dir = tmp;
  }

  async up(): Promise<void> {
    for (const n of Object.values(this.ns)) {
      // Own resolv.conf BEFORE any `ip netns exec` (the host's file is never touched).
      mkdirSync(`/etc/netns/${n}`, { recursive: true });
      writeFileSync(`/etc/netns/${n}/resolv.conf`, 'nameserver 127.0.0.1\n');
      await sh('ip', ['netns', 'add', n]);
      await sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
    }
    const { sw } = this.ns;
    await sh('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    await sh('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
    for (const [role, ip] of [
      ['ctl', this.addr.ctl],
      ['node', this.addr.node],
      ['cli', this.addr.cli],
    ] as const) {
      const ns = this.ns[role];
      await sh('ip', [
        '-n',
        sw,
        'link',
        'add',
        `p-${role}`,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        ns,
      ]);
      await sh('ip', ['-n', sw, 'link', 'set', `p-${role}`, 'master', 'br0', 'up']);
      await sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
    const { node, web } = this.ns;
    await sh('ip', ['-n', node, 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', web]);
    await sh('ip', ['-n', node, 'addr', 'add', `${this.addr.wan}/24`, 'dev', 'wan0']);
    await sh('ip', ['-n', node, 'addr', 'add', `${this.addr.wan6}/64`, 'dev', 'wan0', 'nodad']);
    await sh('ip', ['-n', node, 'link', 'set', 'wan0', 'up']);
    await sh('ip', ['-n', web, 'addr', 'add', `${this.addr.web}/24`, 'dev', 'eth0']);
    await sh('ip', ['-n', web, 'addr', 'add', `${this.addr.web6}/64`, 'dev', 'eth0', 'nodad']);
    await sh('ip', ['-n', web, 'link', 'set', 'eth0', 'up']);
  }

  /** Starts `cmd` inside namespace `ns`; output is kept for failure messages. */
  spawn(ns: string, name: string, cmd: string, args: string[], env: Record<string, string> = {}): Proc {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: ROOT,
    });
    const log: string[] = [];
    child.stdout?.on('data', (d: Buffer) => log.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
    const proc: Proc = {
      child,
      log,
      name,
      exited: new Promise((r) => child.once('exit', (code) => r(code))),
    };
    this.procs.add(proc);
    void proc.exited.then(() => this.procs.delete(proc));
    return proc;
  }

  /** Runs a TypeScript entry point with Node itself (tsx as a loader, no wrapper process), so signals
   * such as SIGKILL reach the program. */
  tsx(ns: string, name: string, file: string, args: string[] = [], env: Record<string, string> = {}): Proc {
    return this.spawn(
      ns,
      name,
      process.execPath,
      ['--conditions=source', '--import', 'tsx', file, ...args],
      env,
    );
  }

  exec(ns: string, cmd: string, args: string[]): Promise<string> {
    return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
  }

  logs(): string {
    return [...this.procs].map((p) => `--- ${p.name}\n${p.log.join('').slice(-4000)}`).join('\n');
  }

  /** Kills every process still running and deletes every namespace, whatever happened before. */
  async down(): Promise<void> {
    for (const p of this.procs) p.child.kill('SIGKILL');
    await Promise.all(
      [...this.procs].map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 3000))])),
    );
    for (const n of Object.values(this.ns)) {
      await sh('ip', ['netns', 'del', n]).catch(() => undefined);
      rmSync(`/etc/netns/${n}`, { recursive: true, force: true });
    }
  }
}

/** Waits until `pattern` appears in the process output. */
export async function waitForOutput(p: Proc, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = p.log.join('');
    const m = pattern.exec(text);
    if (m) return m[0];
    if (p.child.exitCode !== null)
      throw new Error(
        `${p.name} exited (${p.child.exitCode}) before printing ${pattern}:\n${text.slice(-3000)}`,
      );
    if (Date.now() > end)
      throw new Error(`${p.name} did not print ${pattern} within ${timeoutMs} ms:\n${text.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** JSON-line RPC to the client-host fixture. */
export class ClientHost {
  private next = 1;
  private buffer = '';
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly ready: Promise<void>;

  constructor(readonly proc: Proc) {
    let onReady!: () => void;
    this.ready = new Promise((r) => (onReady = r));
    proc.child.stdout?.on('data', (d: Buffer) => {
      this.buffer += d.toString();
      let i: number;
      while ((i = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + 1);
        let msg: { id?: number; ready?: boolean; result?: unknown; error?: string };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          continue;
        }
        if (msg.ready) onReady();
        const w = msg.id === undefined ? undefined : this.waiting.get(msg.id);
        if (w) {
          this.waiting.delete(msg.id!);
          if (msg.error !== undefined) w.reject(new Error(msg.error));
          else w.resolve(msg.result);
        }
      }
    });
  }

  call<T = Record<string, unknown>>(
    op: string,
    args: Record<string, unknown> = {},
    timeoutMs = 30_000,
  ): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`client-host ${op} timed out`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(t);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.proc.child.stdin?.write(JSON.stringify({ id, op, ...args }) + '\n');
    });
  }
}
