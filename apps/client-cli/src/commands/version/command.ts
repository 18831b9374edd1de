import type { CommandSpec } from '../../command.js';

export const spec: CommandSpec = {
  name: 'version',
  summary: 'Print the vpnctl and protocol versions.',
  usage: ['vpnctl version [--json]'],
  positionals: [],
  options: [
    { name: 'json', type: 'boolean', description: 'print JSON on stdout: {"version","protocolVersion"}' },
  ],
  examples: ['vpnctl version', 'vpnctl version --json'],
};
