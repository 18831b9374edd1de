import type { CommandSpec } from '../../command.js';

export const spec: CommandSpec = {
  name: 'disconnect',
  summary: 'Stop the running connection and restore routes, DNS and firewall.',
  usage: ['vpnctl disconnect [--json]'],
  positionals: [],
  options: [
    {
      name: 'json',
      type: 'boolean',
      description: 'print JSON on stdout: {"disconnected":bool,"restoredAfterCrash":bool}',
    },
  ],
  examples: ['sudo vpnctl disconnect'],
  notes: [
    'Also cleans up after a connection that died without restoring the network (kill -9, power loss):\n' +
      'the changes it had journaled are undone. Succeeds (exit 0) when nothing is connected.',
  ],
};
