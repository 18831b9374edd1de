// Run records: what a lab run created, written to /run/corridor-lab/<runId>.json BEFORE each thing is
// created (an intent log), so that a run killed at any moment can be removed by `pnpm lab:down` or by
// the next lab's sweep. Removing a run (cleanupRunSync) is synchronous so it also works from signal and
// 'exit' handlers; it is idempotent and touches only names that match the lab's own patterns:
//   namespaces  crl-<runId>-<host>      (checked against NS_PATTERN)
//   etc dirs    /etc/netns/<namespace>   (exactly that, for a namespace of the run)
//   work dir    <tmp>/corridor-lab-<runId>-*
// Invariant the orphan sweep relies on: a run's record exists before its first namespace and is
// deleted after its last namespace, so a crl-* namespace without a record belongs to no live run.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LabError } from './errors.js';

export const STATE_DIR = '/run/corridor-lab';
export const NETNS_RUN_DIR = '/run/netns';
export const NETNS_ETC_DIR = '/etc/netns';
export const NS_PREFIX = 'crl-';
export const RUN_ID_PATTERN = /^[a-z0-9]{6}$/;
export const NS_PATTERN = /^crl-([a-z0-9]{6})-([a-z][a-z0-9-]{0,19})$/;

export interface RecordedProcess {
  pid: number;
  /** Start time from /proc/<pid>/stat, so a recycled pid is never killed. */
  startTime: string | null;
  name: string;
}

export interface RunRecord {
  version: 1;
  runId: string;
  label: string;
  owner: { pid: number; startTime: string | null };
  createdAt: string;
  /** Artifacts: logs, pcaps. Removed with the run unless keepDir. */
  dir: string;
  keepDir: boolean;
  namespaces: string[];
  processes: RecordedProcess[];
}

export function newRunId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  for (;;) {
    const bytes = randomBytes(6);
    const id = Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
    if (!existsSync(recordPath(id))) return id;
  }
}

export function recordPath(runId: string): string {
  return path.join(STATE_DIR, `${runId}.json`);
}

export function workDirFor(runId: string, label: string): string {
  const safe = label.replace(/[^a-zA-Z0-9_.-]/g, '_').slice(0, 40) || 'lab';
  return path.join(os.tmpdir(), `corridor-lab-${runId}-${safe}`);
}

/** Writes the record atomically (tmp + rename); the directory is root-only. */
export function writeRecord(rec: RunRecord): void {
  mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
  const file = recordPath(rec.runId);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

function isRecord(v: unknown): v is RunRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Partial<RunRecord>;
  return (
    r.version === 1 &&
    typeof r.runId === 'string' &&
    RUN_ID_PATTERN.test(r.runId) &&
    typeof r.dir === 'string' &&
    Array.isArray(r.namespaces) &&
    Array.isArray(r.processes) &&
    typeof r.owner?.pid === 'number'
  );
}

export function readRecords(): { records: RunRecord[]; broken: string[] } {
  const records: RunRecord[] = [];
  const broken: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(STATE_DIR);
  } catch {
    return { records, broken };
  }
  for (const n of names) {
    if (!n.endsWith('.json')) continue;
    const file = path.join(STATE_DIR, n);
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (isRecord(parsed) && `${parsed.runId}.json` === n) records.push(parsed);
      else broken.push(file);
    } catch {
      // Being renamed into place right now, or truncated by a crash.
      if (existsSync(file)) broken.push(file);
    }
  }
  return { records, broken };
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or null when the process is gone. */
export function procStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null; // fields[0] is field 3 (state)
  } catch {
    return null;
  }
}

/** True only for the very process recorded: a pid whose start time is unknown is never trusted. */
export function isSameProcessAlive(p: { pid: number; startTime: string | null }): boolean {
  if (p.startTime === null || !Number.isInteger(p.pid) || p.pid <= 1) return false;
  return procStartTime(p.pid) === p.startTime;
}

export function ownerAlive(rec: RunRecord): boolean {
  return isSameProcessAlive(rec.owner);
}

export function listNamespaces(): string[] {
  try {
    return readdirSync(NETNS_RUN_DIR);
  } catch {
    return [];
  }
}

/** Pids of the processes inside a named namespace (`ip netns pids`); empty when it is gone. */
export function namespacePids(ns: string): number[] {
  if (!NS_PATTERN.test(ns) || !existsSync(path.join(NETNS_RUN_DIR, ns))) return [];
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export interface CleanupReport {
  runId: string;
  /** Distinct processes killed: the run's process groups' leaders and whatever was left inside. */
  killed: number;
  namespaces: string[];
  etcDirs: string[];
  workDir: string | undefined;
  problems: string[];
}

/**
 * Removes everything a run recorded: kills its process groups and every process inside its namespaces,
 * deletes the namespaces (which destroys their veths, routes and nft tables), their /etc/netns dirs,
 * the work dir (unless kept) and the record. Safe to call twice and from signal handlers.
 */
export function cleanupRunSync(rec: RunRecord, extraNamespaces: readonly string[] = []): CleanupReport {
  const report: CleanupReport = {
    runId: rec.runId,
    killed: 0,
    namespaces: [],
    etcDirs: [],
    workDir: undefined,
    problems: [],
  };
  const ours = (ns: string) => NS_PATTERN.exec(ns)?.[1] === rec.runId;
  const namespaces = [...new Set([...rec.namespaces, ...extraNamespaces])].filter((ns) => {
    if (ours(ns)) return true;
    report.problems.push(`ignored namespace name not of this run: ${JSON.stringify(ns)}`);
    return false;
  });

  // 1. Process groups the run started (pid checked against its start time), then anything still inside.
  const killed = new Set<number>();
  for (const p of rec.processes) {
    if (!isSameProcessAlive(p)) continue;
    killQuietly(-p.pid, 'SIGKILL');
    killQuietly(p.pid, 'SIGKILL');
    killed.add(p.pid);
  }
  const deadline = Date.now() + 3000;
  for (;;) {
    const left = namespaces.flatMap((ns) => namespacePids(ns));
    if (left.length === 0) break;
    if (Date.now() > deadline) {
      report.problems.push(`processes still alive in the lab namespaces: ${left.join(' ')}`);
      break;
    }
    for (const pid of left) {
      killQuietly(pid, 'SIGKILL');
      killed.add(pid);
    }
    sleepSync(20);
  }
  report.killed = killed.size;

  // 2. Namespaces (in one `ip -batch`; -force goes on past names already gone).
  const present = new Set(listNamespaces());
  const toDelete = namespaces.filter((ns) => present.has(ns));
  if (toDelete.length > 0) {
    const r = spawnSync('ip', ['-force', '-batch', '-'], {
      input: toDelete.map((ns) => `netns del ${ns}\n`).join(''),
      encoding: 'utf8',
    });
    if (r.status !== 0) report.problems.push(`ip netns del: ${(r.stderr ?? '').trim()}`);
    report.namespaces.push(...toDelete.filter((ns) => !existsSync(path.join(NETNS_RUN_DIR, ns))));
  }

  // 3. Per-namespace resolv.conf dirs.
  for (const ns of namespaces) {
    const dir = path.join(NETNS_ETC_DIR, ns);
    if (!existsSync(dir)) continue;
    rmSync(dir, { recursive: true, force: true });
    report.etcDirs.push(dir);
  }

  // 4. Work dir, only if it has the shape the lab gives it.
  const base = path.basename(rec.dir);
  if (
    !rec.keepDir &&
    path.dirname(rec.dir) === os.tmpdir() &&
    base.startsWith(`corridor-lab-${rec.runId}-`)
  ) {
    if (existsSync(rec.dir)) {
      rmSync(rec.dir, { recursive: true, force: true });
      report.workDir = rec.dir;
    }
  }

  // 5. The record, last (see the invariant at the top).
  try {
    unlinkSync(recordPath(rec.runId));
  } catch {
    // not written yet, or already removed
  }
  return report;
}

/** Lab namespaces whose run has no record (left by a run whose record was lost), grouped by run id. */
export function orphanNamespaces(records: readonly RunRecord[]): Map<string, string[]> {
  const known = new Set(records.map((r) => r.runId));
  const out = new Map<string, string[]>();
  for (const ns of listNamespaces()) {
    const id = NS_PATTERN.exec(ns)?.[1];
    if (!id || known.has(id) || existsSync(recordPath(id))) continue;
    out.set(id, [...(out.get(id) ?? []), ns]);
  }
  return out;
}

/** A record for namespaces found without one, so cleanupRunSync can remove them the same way. */
export function orphanRecord(runId: string, namespaces: string[]): RunRecord {
  return {
    version: 1,
    runId,
    label: 'orphan',
    owner: { pid: 0, startTime: null },
    createdAt: new Date(0).toISOString(),
    dir: path.join(os.tmpdir(), `corridor-lab-${runId}-orphan`),
    keepDir: true,
    namespaces,
    processes: [],
  };
}

/**
 * Removes runs whose owner process is gone and that are older than minAgeMs (the grace period keeps a
 * sweep in one test run from racing a test in another that inspects its own killed run).
 */
export function sweepDeadRuns(minAgeMs: number): CleanupReport[] {
  const { records } = readRecords();
  const reports: CleanupReport[] = [];
  for (const rec of records) {
    if (ownerAlive(rec)) continue;
    if (Date.now() - Date.parse(rec.createdAt) < minAgeMs) continue;
    reports.push(cleanupRunSync(rec));
  }
  return reports;
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new LabError('CORRIDOR_ERR_LAB_NOT_ROOT', 'the netns lab needs root');
}
