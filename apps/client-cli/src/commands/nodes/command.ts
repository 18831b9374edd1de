import type { CommandSpec } from '../../command.js';

export const spec: CommandSpec = {
  name: 'nodes',
  summary: 'List VPN nodes, most useful first.',
  usage: ['vpnctl nodes [--region R] [--json]'],
  positionals: [],
  options: [
    { name: 'region', type: 'string', value: 'R', description: 'only nodes in region R (e.g. eu-central)' },
    { name: 'json', type: 'boolean', description: 'print JSON on stdout (format below)' },
  ],
  examples: [
    'vpnctl nodes',
    'vpnctl nodes --region eu-central',
    'vpnctl nodes --json | jq -r ".nodes[0].id"',
  ],
  notes: [
    'Order: online nodes first, then by live load (lowest first), then by id.\n' +
      'JSON: {"nodes":[{"id","region","country","city","online","load","activeSessions",\n' +
      '                 "endpoint":{"host","udpPort","tcpPort"}}]} in the same order.',
  ],
};
