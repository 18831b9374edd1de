import type { CommandSpec } from '../../command.js';

export const spec: CommandSpec = {
  name: 'logout',
  summary: 'Log out: revoke the refresh token and delete the stored tokens.',
  usage: ['vpnctl logout'],
  positionals: [],
  options: [],
  examples: ['vpnctl logout'],
  notes: [
    'The controller URL, its trust and the device key stay, so `vpnctl login` later reuses this device.\n' +
      'A running connection keeps working until its ticket expires; stop it with `vpnctl disconnect`.',
  ],
};
