import type { CommandSpec } from '../../command.js';

export const spec: CommandSpec = {
  name: 'status',
  summary: 'Show the running connection.',
  usage: ['vpnctl status [--json]'],
  positionals: [],
  options: [{ name: 'json', type: 'boolean', description: 'print JSON on stdout (format below)' }],
  examples: ['vpnctl status', 'sudo vpnctl status --json | jq .rates'],
  notes: [
    'Asks the running connection over its local socket (mode 0600: run it as the user that connected,\n' +
      'usually with sudo). Exit 0 whether connected or not.',
    'JSON when connected:\n' +
      '  {"state":"connecting|connected|reconnecting","pid","node":{"id","region","city","country","host",\n' +
      '   "address","udpPort","tcpPort"},"transport":"udp|tcp|null","interface","address":{"ipv4","ipv6"},\n' +
      '   "gateway","mtu","dns":[...]|null,"routing":{"mode":"full|split","routes":[...],\n' +
      '   "ipv6":"tunnel|blocked|untouched"},"killSwitch","startedAt","connectedAt","lastHandshakeAt",\n' +
      '   "handshakeAgeSeconds","ticket":{"id","expiresAt"},"bytes":{"sent","received"},\n' +
      '   "rates":{"sentBytesPerSecond","receivedBytesPerSecond"},"reconnects","drops":{...},"lastError"}\n' +
      'JSON when not connected: {"state":"disconnected","staleJournal":true|false}',
  ],
};
