/**
 * The state journal: every change `vpnctl connect` makes to the system (routes, resolv.conf, the
 * kill-switch firewall table) is written here — atomically and fsync'ed — BEFORE it is made. On a
 * normal exit the changes are undone in reverse order and the journal is deleted. If the process dies
 * (kill -9, power loss), the journal survives on disk and the next vpnctl start undoes what it lists.
 *
 * Undo is tolerant by design: a change that was journaled but never applied (the crash came in
 * between) or that already vanished (routes die with the TUN interface) is skipped silently.
 * Changes we did not make are never touched: routes are only ever added (never replaced), the
 * firewall lives in a table of its own, and resolv.conf is put back only while it still holds what
 * vpnctl wrote (someone else's later edit wins).
 *
 * A journal belongs to one process (pid + start time, so a recycled pid is not mistaken for it) and
 * one network namespace; recovery refuses to touch another namespace.
 */
import { promises as fs } from 'node:fs';
import { readPrivateJson, removeFile, writePrivateJson } from '../config/files.js';

export type Change =
  /** `ip -<family> route add <spec...>`; undone with `route del <spec...>`. */
  | { readonly kind: 'route'; readonly family: 4 | 6; readonly spec: readonly string[] }
  /**
   * resolv.conf at `path` replaced by `written`. `original` is the previous content (null: there was
   * no file); `symlink` the previous link target when the path was a symbolic link.
   */
  | {
      readonly kind: 'dns';
      readonly path: string;
      readonly original: string | null;
      readonly symlink: string | null;
      readonly written: string;
    }
  /** An nftables table of our own (`nft delete table <family> <name>` undoes it). */
  | { readonly kind: 'firewall'; readonly family: 'inet'; readonly table: string };

export interface JournalOwner {
  readonly pid: number;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22). */
  readonly startTicks: number;
  /** `net:[inode]` of the network namespace the changes were made in. */
  readonly netns: string;
}

export interface JournalData {
  readonly version: 1;
  readonly owner: JournalOwner;
  readonly createdAt: string;
  readonly changes: readonly Change[];
}

function isChange(v: unknown): v is Change {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  switch (c.kind) {
    case 'route':
      return (
        (c.family === 4 || c.family === 6) &&
        Array.isArray(c.spec) &&
        c.spec.every((s) => typeof s === 'string')
      );
    case 'dns':
      return (
        typeof c.path === 'string' &&
        (c.original === null || typeof c.original === 'string') &&
        (c.symlink === null || typeof c.symlink === 'string') &&
        typeof c.written === 'string'
      );
    case 'firewall':
      return c.family === 'inet' && typeof c.table === 'string' && /^[a-z0-9_]{1,32}$/.test(c.table);
    default:
      return false;
  }
}

export function isJournalData(v: unknown): v is JournalData {
  if (typeof v !== 'object' || v === null) return false;
  const j = v as Record<string, unknown>;
  const o = j.owner as Record<string, unknown> | undefined;
  return (
    j.version === 1 &&
    typeof o === 'object' &&
    o !== null &&
    Number.isInteger(o.pid) &&
    Number.isInteger(o.startTicks) &&
    typeof o.netns === 'string' &&
    typeof j.createdAt === 'string' &&
    Array.isArray(j.changes) &&
    j.changes.every(isChange)
  );
}

/** Start time (clock ticks since boot) of `pid`, or undefined when it does not exist. */
export async function processStartTicks(pid: number): Promise<number | undefined> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: fields after the last ')' are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

export async function currentNetns(): Promise<string> {
  try {
    return await fs.readlink('/proc/self/ns/net');
  } catch {
    return 'unknown';
  }
}

export async function currentOwner(): Promise<JournalOwner> {
  return {
    pid: process.pid,
    startTicks: (await processStartTicks(process.pid)) ?? 0,
    netns: await currentNetns(),
  };
}

/** Whether the process that owns a journal is still running (same pid AND same start time). */
export async function ownerAlive(owner: JournalOwner): Promise<boolean> {
  const ticks = await processStartTicks(owner.pid);
  return ticks !== undefined && ticks === owner.startTicks;
}

/** Reads a journal; one that belongs to another user is refused (see ReadPrivateOptions.mustBeOwn). */
export function readJournal(file: string): Promise<JournalData | undefined> {
  return readPrivateJson(file, isJournalData, { mustBeOwn: true });
}

export class Journal {
  private changes: Change[] = [];

  private constructor(
    readonly file: string,
    readonly owner: JournalOwner,
    private readonly createdAt: string,
  ) {}

  /** Starts a new, empty journal (the caller has recovered or refused any previous one). */
  static async create(file: string): Promise<Journal> {
    const j = new Journal(file, await currentOwner(), new Date().toISOString());
    await j.flush();
    return j;
  }

  get entries(): readonly Change[] {
    return this.changes;
  }

  private flush(): Promise<void> {
    const data: JournalData = {
      version: 1,
      owner: this.owner,
      createdAt: this.createdAt,
      changes: this.changes,
    };
    return writePrivateJson(this.file, data);
  }

  /** Records a change that is about to be made. Resolves once it is durably on disk. */
  async record(change: Change): Promise<void> {
    this.changes.push(change);
    await this.flush();
  }

  /** Forgets a change after it was undone (or turned out not to be needed). */
  async forget(change: Change): Promise<void> {
    const i = this.changes.lastIndexOf(change);
    if (i >= 0) this.changes.splice(i, 1);
    await this.flush();
  }

  /** Replaces a recorded change (e.g. the resolv.conf content changed while connected). */
  async replace(old: Change, next: Change): Promise<void> {
    const i = this.changes.lastIndexOf(old);
    if (i >= 0) this.changes[i] = next;
    else this.changes.push(next);
    await this.flush();
  }

  async remove(): Promise<void> {
    this.changes = [];
    await removeFile(this.file);
  }
}
