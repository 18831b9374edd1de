/** `vpnctl status`: asks the running connection over its control socket. */
import { bool, type Command } from '../../command.js';
import { controlRequest } from '../../connection/control-socket.js';
import { isConnectionStatus, statusText } from '../../connection/status.js';
import { isProxyStatus, proxyStatusText } from '../../proxy/proxy-status.js';
import { CLI_ERROR_CODES, UserError } from '../../errors.js';
import { writeJson } from '../../output/format.js';
import { ownerAlive, readJournal } from '../../system/journal.js';
import { spec } from './command.js';

export const statusCommand: Command = {
  spec,
  async run(args, ctx) {
    const answer = await controlRequest(ctx.paths.socketFile, { command: 'status' });
    if (answer === undefined) {
      const journal = await readJournal(ctx.paths.journalFile).catch(() => undefined);
      const stale = journal !== undefined && !(await ownerAlive(journal.owner));
      if (bool(args, 'json')) writeJson(ctx.stdout, { state: 'disconnected', staleJournal: stale });
      else {
        ctx.stdout.write('Not connected.\n');
        if (stale) {
          ctx.say(
            'A previous connection ended without restoring the network settings; `sudo vpnctl disconnect` restores them.',
          );
        }
      }
      return 0;
    }
    if (!isConnectionStatus(answer)) {
      throw new UserError(
        CLI_ERROR_CODES.SYSTEM,
        'the running connection sent an unexpected status',
        'update vpnctl and reconnect',
      );
    }
    if (bool(args, 'json')) writeJson(ctx.stdout, answer);
    else ctx.stdout.write(isProxyStatus(answer) ? proxyStatusText(answer) : statusText(answer));
    return 0;
  },
};
