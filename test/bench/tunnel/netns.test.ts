// The benchmark's namespaces are a lab run: a benchmark killed with SIGKILL (no handler runs) leaves
// namespaces, /etc/netns dirs, processes and its work dir behind, and `pnpm lab:down` or the next
// benchmark's start (BenchNet.sweep) removes all of it — and nothing of a run whose owner is alive.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { labSkipReason } from '../../lab/index.js';
import { runArgv } from '../../lab/exec.js';
import { cleanupRunSync, listNamespaces, orphanRecord, readRecords, recordPath } from '../../lab/state.js';
import { BenchNet } from './netns.js';

const skip = labSkipReason();
if (skip) console.warn(`[bench:tunnel] skipping the namespace cleanup tests: ${skip}`);

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const HOLD = fileURLToPath(new URL('./fixtures/hold-net.ts', import.meta.url));
const LAB_CLI = fileURLToPath(new URL('../../lab/cli.ts', import.meta.url));

interface Ready {
  runId: string;
  client: string;
  node: string;
  dir: string;
  sleeperPid: number;
}

const children = new Set<ChildProcess>();
const runs = new Set<string>();
afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
  const { records } = readRecords();
  for (const id of runs) {
    const ns = listNamespaces().filter((n) => n.startsWith(`crl-${id}-`));
    cleanupRunSync(records.find((r) => r.runId === id) ?? orphanRecord(id, ns), ns);
  }
  runs.clear();
});

function startHolder(): Promise<{ child: ChildProcess; ready: Ready; exited: Promise<unknown> }> {
  const child = spawn(process.execPath, ['--import', TSX, HOLD], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const exited = new Promise((r) => child.once('close', r));
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no READY within 60 s:\n${out}`)), 60_000);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('READY '));
      if (!line) return;
      clearTimeout(timer);
      const ready = JSON.parse(line.slice(6)) as Ready;
      runs.add(ready.runId);
      resolve({ child, ready, exited });
    });
    void exited.then(() => reject(new Error(`exited before READY:\n${out}`)));
  });
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 25)))
    if (check()) return true;
  return check();
}

function leftovers(r: Ready) {
  const ns = listNamespaces();
  return {
    namespaces: [r.client, r.node].filter((n) => ns.includes(n)),
    etcDirs: [r.client, r.node].filter((n) => existsSync(`/etc/netns/${n}`)),
    record: existsSync(recordPath(r.runId)),
    workDir: existsSync(r.dir),
    sleeper: alive(r.sleeperPid),
  };
}
const ALL = { namespaces: 2, etcDirs: 2, record: true, workDir: true, sleeper: true };
const NOTHING = { namespaces: [], etcDirs: [], record: false, workDir: false, sleeper: false };
const counts = (l: ReturnType<typeof leftovers>) => ({
  ...l,
  namespaces: l.namespaces.length,
  etcDirs: l.etcDirs.length,
});

describe.skipIf(skip !== undefined)('bench:tunnel namespaces after a killed run', () => {
  it('`pnpm lab:down` removes a SIGKILLed run, and leaves a live one alone', async () => {
    const live = await startHolder();
    const killed = await startHolder();
    killed.child.kill('SIGKILL');
    await killed.exited;
    expect(counts(leftovers(killed.ready))).toEqual(ALL); // SIGKILL: no handler ran
    // By run id: other engineers' dead runs are theirs to look at.
    const r = await runArgv(
      [process.execPath, '--import', TSX, LAB_CLI, 'down', killed.ready.runId, live.ready.runId],
      { timeoutMs: 60_000 },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`removed run ${killed.ready.runId} (bench-tunnel`);
    expect(r.stdout).toContain(`left run ${live.ready.runId} (bench-tunnel)`);
    expect(await eventually(() => !leftovers(killed.ready).sleeper)).toBe(true);
    expect(leftovers(killed.ready)).toEqual(NOTHING);
    expect(counts(leftovers(live.ready))).toEqual(ALL);
  });

  it('the next benchmark start (BenchNet.sweep) removes a killed run once past the grace period', async () => {
    const killed = await startHolder();
    killed.child.kill('SIGKILL');
    await killed.exited;
    // Within the grace period (another test may still be looking at its killed run): kept.
    BenchNet.sweep();
    expect(counts(leftovers(killed.ready))).toEqual(ALL);
    // Age the record past it.
    const file = recordPath(killed.ready.runId);
    const rec = JSON.parse(readFileSync(file, 'utf8')) as { createdAt: string };
    rec.createdAt = new Date(Date.now() - 3_600_000).toISOString();
    writeFileSync(file, JSON.stringify(rec));
    const removed = BenchNet.sweep();
    expect(removed.map((x) => x.runId)).toContain(killed.ready.runId);
    expect(await eventually(() => !leftovers(killed.ready).sleeper)).toBe(true);
    expect(leftovers(killed.ready)).toEqual(NOTHING);
  });

  it('down() removes everything of a run that ends normally', async () => {
    const net = new BenchNet();
    runs.add(net.runId);
    await net.up();
    const p = net.spawn(net.node, 'sleeper', ['sleep', '600']);
    const ready = { runId: net.runId, client: net.client, node: net.node, dir: net.dir, sleeperPid: p.pid };
    expect(counts(leftovers(ready))).toEqual(ALL);
    await net.down();
    expect(leftovers(ready)).toEqual(NOTHING);
  });
});
