/**
 * Putting the system back: undo journaled changes in reverse order (routes, resolv.conf, firewall),
 * on a normal exit and — from the journal a crashed process left behind — on the next start.
 */
import { removeFile } from '../config/files.js';
import { undoDns } from './dns.js';
import { undoFirewall } from './firewall.js';
import { currentNetns, ownerAlive, readJournal, type Change, type JournalData } from './journal.js';
import { undoRoute } from './routes.js';

export async function undoChange(change: Change): Promise<string | undefined> {
  switch (change.kind) {
    case 'route':
      await undoRoute(change);
      return undefined;
    case 'firewall':
      await undoFirewall(change);
      return undefined;
    case 'dns':
      return (await undoDns(change)) === 'kept'
        ? `${change.path} was changed by someone else while connected; left as it is`
        : undefined;
  }
}

/** Undoes `changes` newest first. Every failure is reported through `warn` and the rest continue. */
export async function undoAll(changes: readonly Change[], warn: (text: string) => void): Promise<number> {
  let failures = 0;
  for (const c of [...changes].reverse()) {
    try {
      const note = await undoChange(c);
      if (note) warn(note);
    } catch (e) {
      failures++;
      warn(`could not undo ${describeChange(c)}: ${(e as Error).message}`);
    }
  }
  return failures;
}

export function describeChange(c: Change): string {
  switch (c.kind) {
    case 'route':
      return `the route ${c.spec.join(' ')}`;
    case 'dns':
      return `the DNS settings in ${c.path}`;
    case 'firewall':
      return `the kill-switch table ${c.family} ${c.table}`;
  }
}

export type RecoveryResult =
  | { readonly state: 'none' }
  | { readonly state: 'live'; readonly journal: JournalData }
  | { readonly state: 'elsewhere'; readonly journal: JournalData }
  | { readonly state: 'recovered'; readonly journal: JournalData; readonly failures: number };

/**
 * Looks for a journal left by a connection that is no longer running and undoes it. A journal whose
 * owner still runs is 'live' (not touched); one from another network namespace is 'elsewhere'.
 */
export async function recoverStale(
  journalFile: string,
  warn: (text: string) => void,
): Promise<RecoveryResult> {
  const journal = await readJournal(journalFile);
  if (journal === undefined) return { state: 'none' };
  if (await ownerAlive(journal.owner)) return { state: 'live', journal };
  if (journal.owner.netns !== (await currentNetns())) return { state: 'elsewhere', journal };
  const failures = await undoAll(journal.changes, warn);
  if (failures === 0) await removeFile(journalFile);
  return { state: 'recovered', journal, failures };
}
