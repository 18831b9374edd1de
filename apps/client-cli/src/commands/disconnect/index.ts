/** `vpnctl disconnect`: stops the running connection, or cleans up after a crashed one. */
import { bool, type Command } from '../../command.js';
import { controlRequest } from '../../connection/control-socket.js';
import { isConnectionStatus } from '../../connection/status.js';
import { writeJson } from '../../output/format.js';
import { requireNetAdmin } from '../../system/privileges.js';
import { readJournal } from '../../system/journal.js';
import { recoverStale } from '../../system/restore.js';
import { CLI_ERROR_CODES, UserError } from '../../errors.js';
import type { CliContext } from '../../context.js';
import { spec } from './command.js';

/** Undoes what a crashed connection left behind; says what it did. Returns true when it restored something. */
export async function recoverAfterCrash(ctx: CliContext): Promise<boolean> {
  const journal = await readJournal(ctx.paths.journalFile);
  if (journal === undefined) return false;
  requireNetAdmin('restoring the network settings of a crashed connection');
  const r = await recoverStale(ctx.paths.journalFile, (w) => ctx.say(`warning: ${w}`));
  switch (r.state) {
    case 'none':
    case 'live':
      return false;
    case 'elsewhere':
      throw new UserError(
        CLI_ERROR_CODES.SYSTEM,
        `a crashed connection left changes in another network namespace (${r.journal.owner.netns})`,
        'run `vpnctl disconnect` in that namespace to restore them',
      );
    case 'recovered':
      if (r.failures > 0) {
        throw new UserError(
          CLI_ERROR_CODES.SYSTEM,
          `could not undo ${r.failures} change(s) left by a crashed connection (see the warnings above)`,
          `fix what the warnings name, then run \`vpnctl disconnect\` again (the list is kept in ${ctx.paths.journalFile})`,
        );
      }
      ctx.say(
        `Restored the routes, DNS and firewall left by a connection that ended unexpectedly (pid ${r.journal.owner.pid}).`,
      );
      return true;
  }
}

export const disconnectCommand: Command = {
  spec,
  async run(args, ctx) {
    const before = await controlRequest(ctx.paths.socketFile, { command: 'status' });
    if (before === undefined) {
      const restored = await recoverAfterCrash(ctx);
      if (bool(args, 'json')) writeJson(ctx.stdout, { disconnected: false, restoredAfterCrash: restored });
      else if (!restored) ctx.say('Not connected.');
      return 0;
    }
    const node = isConnectionStatus(before) ? before.node.id : 'the node';
    await controlRequest(ctx.paths.socketFile, { command: 'disconnect' });
    // Wait until the connection has restored everything and let go of its socket.
    const deadline = Date.now() + 30_000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const still = await controlRequest(ctx.paths.socketFile, { command: 'status' }, 1_000).catch(
        () => 'busy',
      );
      if (still === undefined) break;
      if (Date.now() > deadline) {
        throw new UserError(
          CLI_ERROR_CODES.SYSTEM,
          'the connection did not stop within 30 s',
          `check its log (${ctx.paths.logFile}) and the process (kill it; the next start restores the network)`,
        );
      }
    }
    // Its journal is gone once it restored everything; if not, it failed to undo something.
    const left = await readJournal(ctx.paths.journalFile).catch(() => undefined);
    if (bool(args, 'json')) writeJson(ctx.stdout, { disconnected: true, restoredAfterCrash: false });
    else
      ctx.say(
        `Disconnected from ${node}.${left ? ' Some changes could not be undone; run `vpnctl disconnect` again.' : ' Routes, DNS and firewall are as before.'}`,
      );
    return 0;
  },
};
