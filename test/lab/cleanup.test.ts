// Cleanup on a real kernel (root): after a lab run, a failed build, SIGINT/SIGTERM, and a SIGKILL
// followed by `lab down`, nothing of the lab is left and the root namespace's links, addresses,
// routes, rules, firewall, forwarding and resolv.conf are byte-identical to before.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runArgv } from './exec.js';
import {
  createLab,
  diffSnapshots,
  labSkipReason,
  snapshotRoot,
  type Lab,
  type RoleDefinition,
} from './index.js';
import {
  cleanupRunSync,
  listNamespaces,
  namespacePids,
  orphanRecord,
  readRecords,
  recordPath,
} from './state.js';

const skip = labSkipReason();
if (skip) console.warn(`[lab] skipping the lab cleanup tests: ${skip}`);

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
const HOLD = fileURLToPath(new URL('./fixtures/hold-lab.ts', import.meta.url));

interface Ready {
  runId: string;
  dir: string;
  ownerPid: number;
  sleeperPid?: number;
}

interface Started {
  child: ChildProcess;
  ready: Ready;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

/** Runs a script that builds a lab and prints "READY <json>"; resolves once it has. */
function startHolder(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, ['--import', TSX, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no READY within 60 s:\n${out}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('READY '));
      if (!line) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolve({ child, ready: JSON.parse(line.slice(6)) as Ready, exit, output: () => out });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    void exit.then((s) => {
      clearTimeout(timer);
      reject(new Error(`exited (${s.code} ${s.signal}) before READY:\n${out}`));
    });
  });
}

function cli(args: string[]) {
  return runArgv([process.execPath, '--import', TSX, CLI, ...args], { timeoutMs: 60_000 });
}

/** Everything of a run that could be left behind. */
function leftovers(runId: string, dir?: string) {
  const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns') : [];
  return {
    namespaces: listNamespaces().filter((n) => n.startsWith(`crl-${runId}-`)),
    etcDirs: etc.filter((n) => n.startsWith(`crl-${runId}-`)),
    record: existsSync(recordPath(runId)),
    workDir: dir !== undefined && existsSync(dir),
  };
}
const NOTHING = { namespaces: [], etcDirs: [], record: false, workDir: false };

/** Running (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 25)))
    if (check()) return true;
  return check();
}

// Whatever a failed test left: removed by run id, never anybody else's.
const runsToClean = new Set<string>();
const children = new Set<ChildProcess>();
afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
  const { records } = readRecords();
  for (const id of runsToClean) {
    const rec = records.find((r) => r.runId === id);
    const ns = listNamespaces().filter((n) => n.startsWith(`crl-${id}-`));
    cleanupRunSync(rec ?? orphanRecord(id, ns), ns);
  }
  runsToClean.clear();
});

describe.skipIf(skip !== undefined)('lab cleanup', () => {
  it('leaves the root namespace byte-identical after a full lab run (links, routes, firewall, resolv.conf)', async () => {
    const before = await snapshotRoot();
    const lab = await createLab({ label: 'cleanup.test' });
    runsToClean.add(lab.runId);
    const client = lab.host('client1');
    // Use everything that changes state: rules, a capture, processes, DNS, an added host.
    const rule = await client.block({ proto: 'udp' });
    await client.loss(10, { proto: 'tcp' });
    const cap = await client.capture();
    expect(await client.get(lab.http().url('/'))).toBe(`${client.v4}\n`); // (DNS is UDP: blocked)
    await cap.stop();
    await rule.remove();
    const sleeper = lab.host('node-eu').spawn('sleep 600');
    await lab.addHost({ name: 'late', role: 'plain' });
    const servers = lab.hosts.flatMap((h) => namespacePids(h.ns));
    expect(servers.length).toBeGreaterThanOrEqual(4); // resolver, 2 web servers, sleeper
    expect(readFileSync(`/etc/netns/${client.ns}/resolv.conf`, 'utf8')).toContain('nameserver');

    await lab.down();
    await lab.down(); // idempotent
    expect(leftovers(lab.runId, lab.dir)).toEqual(NOTHING);
    expect(servers.filter(alive)).toEqual([]);
    expect(alive(sleeper.pid)).toBe(false);
    expect(diffSnapshots(before, await snapshotRoot())).toBe('');
    await expect(client.exec('true')).rejects.toThrow(/torn down/);
  });

  it('removes everything made so far when the build fails, and rejects with the cause', async () => {
    const before = await snapshotRoot();
    let runId = '';
    const broken: RoleDefinition = {
      pool: 'infra',
      description: 'fails to start',
      async start(host, lab) {
        runId = lab.runId;
        host.spawn('sleep 600', { name: 'doomed' });
        throw new Error('this role cannot start');
      },
    };
    const attempt = createLab({
      label: 'cleanup-fail',
      roles: { broken },
      hosts: [
        { name: 'resolver', role: 'resolver' },
        { name: 'a', role: 'client' },
        { name: 'b', role: 'broken' },
      ],
    });
    await expect(attempt).rejects.toThrow('this role cannot start');
    expect(runId).toMatch(/^[a-z0-9]{6}$/);
    runsToClean.add(runId);
    expect(leftovers(runId)).toEqual(NOTHING);
    expect(diffSnapshots(before, await snapshotRoot())).toBe('');
    // A topology error is found before anything is created.
    await expect(
      createLab({ label: 'cleanup-badspec', hosts: [{ name: 'x', role: 'node' }] }),
    ).rejects.toThrow(/needs a region/);
    expect(readRecords().records.filter((r) => r.label === 'cleanup-badspec')).toEqual([]);
    expect(readdirSync(os.tmpdir()).filter((d) => d.endsWith('-cleanup-badspec'))).toEqual([]);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('removes the lab when `lab up` gets %s', async (sig) => {
    const before = await snapshotRoot();
    const s = await startHolder([CLI, 'up', '--json', '--label', `cleanup-${sig}`]);
    children.add(s.child);
    runsToClean.add(s.ready.runId);
    const pids = listNamespaces()
      .filter((n) => n.startsWith(`crl-${s.ready.runId}-`))
      .flatMap(namespacePids);
    expect(pids.length).toBeGreaterThanOrEqual(3); // resolver and two web servers (and tsx's helpers)
    expect(leftovers(s.ready.runId, s.ready.dir)).toMatchObject({ record: true, workDir: true });
    s.child.kill(sig);
    expect(await s.exit, s.output()).toEqual({ code: 0, signal: null });
    expect(s.output()).toContain(`lab ${s.ready.runId} removed (${sig})`);
    expect(leftovers(s.ready.runId, s.ready.dir)).toEqual(NOTHING);
    expect(await eventually(() => pids.every((p) => !alive(p)))).toBe(true);
    expect(diffSnapshots(before, await snapshotRoot())).toBe('');
  });

  it('removes the lab of a plain library user killed by SIGTERM, which then dies of that signal', async () => {
    const s = await startHolder([HOLD]);
    children.add(s.child);
    runsToClean.add(s.ready.runId);
    expect(alive(s.ready.sleeperPid ?? 0)).toBe(true);
    s.child.kill('SIGTERM');
    expect(await s.exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(leftovers(s.ready.runId, s.ready.dir)).toEqual(NOTHING);
    expect(await eventually(() => !alive(s.ready.sleeperPid ?? 0))).toBe(true);
  });

  it('leaves a SIGKILLed run behind, and `lab down` removes all of it', async () => {
    const before = await snapshotRoot();
    const s = await startHolder([CLI, 'up', '--json', '--label', 'cleanup-kill']);
    children.add(s.child);
    runsToClean.add(s.ready.runId);
    s.child.kill('SIGKILL');
    await s.exit;
    // The servers are in their own process groups: they outlive their parent, as after a crash.
    const left = leftovers(s.ready.runId, s.ready.dir);
    expect(left.namespaces).toHaveLength(9);
    expect(left).toMatchObject({ record: true, workDir: true });
    const pids = left.namespaces.flatMap(namespacePids);
    expect(pids.length).toBeGreaterThanOrEqual(3);
    expect(pids.every(alive)).toBe(true);

    const down = await cli(['down', s.ready.runId]);
    expect(down.code, down.stdout + down.stderr).toBe(0);
    expect(down.stdout).toMatch(
      new RegExp(
        `removed run ${s.ready.runId} \\(cleanup-kill, process \\d+ gone\\): 9 namespace\\(s\\), [3-9] process\\(es\\) killed`,
      ),
    );
    expect(leftovers(s.ready.runId, s.ready.dir)).toEqual(NOTHING);
    expect(await eventually(() => pids.every((p) => !alive(p)))).toBe(true);
    expect(diffSnapshots(before, await snapshotRoot())).toBe('');
    const again = await cli(['down', s.ready.runId]);
    expect(again.stdout).toContain(`no lab run ${s.ready.runId}`);
  });

  it('removes lab namespaces whose run record was lost', async () => {
    const s = await startHolder([HOLD]);
    children.add(s.child);
    runsToClean.add(s.ready.runId);
    s.child.kill('SIGKILL');
    await s.exit;
    unlinkSync(recordPath(s.ready.runId));
    const down = await cli(['down', s.ready.runId]);
    expect(down.code, down.stdout + down.stderr).toBe(0);
    expect(down.stdout).toContain(
      `removed run ${s.ready.runId} (orphan, namespaces without a run record): 4 namespace(s)`,
    );
    expect(leftovers(s.ready.runId)).toEqual(NOTHING);
    expect(await eventually(() => !alive(s.ready.sleeperPid ?? 0))).toBe(true);
    rmSync(s.ready.dir, { recursive: true, force: true }); // without a record nobody knows it
  });

  it('`lab down` leaves live runs unless forced, and explains bad input', async () => {
    const lab: Lab = await createLab({ label: 'cleanup-live', hosts: [{ name: 'c', role: 'client' }] });
    runsToClean.add(lab.runId);
    const kept = await cli(['down', lab.runId]);
    expect(kept.stdout).toContain(
      `left run ${lab.runId} (cleanup-live): its process ${process.pid} is alive`,
    );
    expect(await lab.host('c').ping(lab.host('c').v4)).toBe(true);
    const list = await cli(['list', '--json']);
    expect(JSON.parse(list.stdout)).toContainEqual(
      expect.objectContaining({ runId: lab.runId, alive: true, namespaces: 2 }),
    );
    const forced = await cli(['down', lab.runId, '--force']);
    expect(forced.stdout).toContain(`removed run ${lab.runId} (cleanup-live, forced`);
    expect(leftovers(lab.runId, lab.dir)).toEqual(NOTHING);
    await lab.down(); // nothing left to do, and no error
    expect(await cli(['down', 'NOT-AN-ID'])).toMatchObject({ code: 2 });
    expect((await cli(['down', 'NOT-AN-ID'])).stderr).toContain('is not a run id');
    expect(await cli(['bogus'])).toMatchObject({ code: 2 });
    expect((await cli(['help'])).stdout).toContain('Usage: lab <command>');
  });

  it('runs two labs side by side with the same addresses, isolated from each other', async () => {
    const hosts = [
      { name: 'client', role: 'client' },
      { name: 'web', role: 'web-echo' },
    ];
    const [a, b] = await Promise.all([
      createLab({ label: 'side-a', hosts }),
      createLab({ label: 'side-b', hosts }),
    ]);
    runsToClean.add(a.runId);
    runsToClean.add(b.runId);
    try {
      expect(a.runId).not.toBe(b.runId);
      expect(a.host('web').v4).toBe(b.host('web').v4);
      await b.host('web').block({ direction: 'in' }); // lab b's web host is cut off; lab a's is not
      expect(await a.host('client').get(a.http().url('/'))).toBe(`${a.host('client').v4}\n`);
      expect(await b.host('client').fetch(b.http().url('/'), { timeoutMs: 800 })).toMatchObject({
        type: 'error',
      });
      expect(a.http().requests()).toHaveLength(1);
      expect(b.http().requests()).toHaveLength(0);
    } finally {
      await Promise.all([a.down(), b.down()]);
    }
  });
});
