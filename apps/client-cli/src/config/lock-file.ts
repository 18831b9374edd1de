/**
 * Lock files shared by concurrent vpnctl processes (the connection lock, the credentials lock).
 *
 * Contract:
 * - A lock file appears atomically WITH its content: the holder's text is written to a private
 *   temporary file first and hard-linked to the lock name (link() fails with EEXIST when the name is
 *   taken). So no process ever sees a half-written (empty) lock and mistakes it for a stale one —
 *   `O_CREAT|O_EXCL` followed by a write had exactly that window.
 * - A stale lock (the caller's `isStale` says its holder is gone) is broken by renaming it aside
 *   and checking that what was moved is still the stale text; a fresh lock that another process
 *   took in the meantime is linked back instead of deleted. Deleting by name (`rm`) after reading
 *   the stale text removed the newer lock of whoever broke the stale one first, so two processes
 *   ended up holding the lock together.
 * - `release()` removes the lock only while it still holds this holder's text.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, FILE_MODE } from './files.js';

export type LockAttempt =
  | { readonly ok: true; release(): Promise<void> }
  /** Held by someone else: `content` is the holder's text. */
  | { readonly ok: false; readonly content: string };

const unique = () => `${process.pid}-${randomBytes(6).toString('hex')}`;

async function createWith(file: string, content: string): Promise<boolean> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.new-${unique()}`);
  await fs.writeFile(tmp, content, { mode: FILE_MODE, flag: 'wx' });
  try {
    await fs.link(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** Removes `file` only if it still holds `stale`; a newer lock is put back (see the header). */
async function breakStale(file: string, stale: string): Promise<void> {
  const aside = path.join(path.dirname(file), `.${path.basename(file)}.stale-${unique()}`);
  try {
    await fs.rename(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  try {
    const moved = await fs.readFile(aside, 'utf8').catch(() => null);
    if (moved !== stale) await fs.link(aside, file).catch(() => undefined);
  } finally {
    await fs.rm(aside, { force: true });
  }
}

async function readLock(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Tries to take `file` (creating its directory 0700), writing `content` into it. A lock whose text
 * `isStale` declares dead is broken and taken. Never waits: the caller decides whether to retry.
 */
export async function tryLock(
  file: string,
  content: string,
  isStale: (holder: string) => Promise<boolean>,
): Promise<LockAttempt> {
  await ensurePrivateDir(path.dirname(file));
  for (let tries = 0; tries < 8; tries++) {
    if (await createWith(file, content)) {
      return {
        ok: true,
        release: async () => {
          if ((await readLock(file).catch(() => undefined)) === content) await fs.rm(file, { force: true });
        },
      };
    }
    const holder = await readLock(file);
    if (holder === undefined) continue; // released meanwhile
    if (!(await isStale(holder))) return { ok: false, content: holder };
    await breakStale(file, holder);
  }
  const holder = await readLock(file);
  return { ok: false, content: holder ?? '' };
}

/** Whether `pid` exists (EPERM: it does, as another user's process). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A unique text for one holder: pid plus a random nonce (two holders never write the same text). */
export function holderText(extra: readonly (string | number)[] = []): string {
  return [process.pid, ...extra, randomBytes(6).toString('hex')].join(' ');
}
