import type { CommandSpec } from '../../command.js';

export const spec: CommandSpec = {
  name: 'devices',
  summary: 'List, rename or remove your devices.',
  usage: [
    'vpnctl devices [list] [--json]',
    'vpnctl devices rename <device> <new-name>',
    'vpnctl devices remove <device> [--yes]',
  ],
  positionals: [
    { name: 'action', description: 'list (default), rename or remove' },
    { name: 'device', description: 'device id, a unique prefix of it (4+ characters), or its exact name' },
    { name: 'new-name', description: 'new name (1-64 characters)' },
  ],
  options: [
    { name: 'json', type: 'boolean', description: 'print JSON on stdout (list and rename)' },
    {
      name: 'yes',
      short: 'y',
      type: 'boolean',
      description: 'remove without asking (needed when not on a terminal)',
    },
  ],
  examples: [
    'vpnctl devices',
    'vpnctl devices rename 3f2b8c1e work-laptop',
    'vpnctl devices remove old-phone --yes',
  ],
  notes: [
    'Removing a device revokes it: its tickets stop working on every node within seconds.\n' +
      'JSON (list): {"devices":[{"id","name","publicKey","createdAt","lastSeenAt","current"}]}\n' +
      'JSON (rename): {"device":{"id","name","publicKey","createdAt","lastSeenAt","current"}}',
  ],
};
