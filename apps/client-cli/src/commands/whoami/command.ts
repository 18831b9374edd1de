import type { CommandSpec } from '../../command.js';

export const spec: CommandSpec = {
  name: 'whoami',
  summary: 'Show the logged-in account, the controller and this device.',
  usage: ['vpnctl whoami [--json]'],
  positionals: [],
  options: [{ name: 'json', type: 'boolean', description: 'print JSON on stdout (format below)' }],
  examples: ['vpnctl whoami', 'vpnctl whoami --json | jq -r .user.email'],
  notes: [
    'Checks with the controller that the login is still valid (refreshing the tokens if needed).\n' +
      'JSON: {"server","user":{"id","email","role"},"trust":{"mode":"system|ca|pin","fingerprint256"},\n' +
      '       "device":{"id","name","publicKey"}|null,"refreshExpiresAt"}',
  ],
};
