import type { CommandSpec } from '../../command.js';

export const spec: CommandSpec = {
  name: 'connect',
  summary: 'Connect to a node and route traffic through it (needs root).',
  usage: [
    'vpnctl connect <node|auto> [--region R] [--transport udp|tcp|auto] [--split CIDR ...]',
    '               [--kill-switch] [--no-dns] [--detach] [--resolv-conf PATH] [--json]',
  ],
  positionals: [
    {
      name: 'node',
      description: "a node id from `vpnctl nodes`, or 'auto' for the best online node",
      required: true,
    },
  ],
  options: [
    { name: 'region', type: 'string', value: 'R', description: "with 'auto': pick within region R" },
    {
      name: 'transport',
      type: 'string',
      value: 'T',
      choices: ['udp', 'tcp', 'auto'],
      description: 'udp, tcp, or auto (default: UDP, falling back to TCP when UDP gets no answer)',
    },
    {
      name: 'split',
      type: 'string',
      multiple: true,
      value: 'CIDR',
      description: 'route only these prefixes through the tunnel (default: everything)',
    },
    {
      name: 'kill-switch',
      type: 'boolean',
      description: 'block all traffic outside the tunnel until `vpnctl disconnect`, also while reconnecting',
    },
    { name: 'no-dns', type: 'boolean', description: "keep the system's DNS servers instead of the node's" },
    { name: 'detach', short: 'd', type: 'boolean', description: 'run in the background once connected' },
    {
      name: 'resolv-conf',
      type: 'string',
      value: 'PATH',
      description: 'resolv.conf to manage (default /etc/resolv.conf, or $CORRIDOR_RESOLV_CONF)',
    },
    {
      name: 'json',
      type: 'boolean',
      description: 'once connected, print the status as JSON on stdout (the `vpnctl status --json` format)',
    },
  ],
  examples: [
    'sudo vpnctl connect auto',
    'sudo vpnctl connect auto --region eu-central --kill-switch',
    'sudo vpnctl connect fra-1 --transport tcp',
    'sudo vpnctl connect fra-1 --split 10.20.0.0/16 --split 192.168.50.0/24 --detach',
  ],
  notes: [
    "The first connect creates this device's key pair (the private key never leaves this machine) and\n" +
      "registers its public key. Full tunnel: all IPv4 goes through the tunnel except the node's own\n" +
      'address; IPv6 goes through the tunnel when the node offers it and is blocked otherwise, so it never\n' +
      'leaks around the tunnel. DNS points at the servers the node pushes. On exit (Ctrl-C, SIGTERM,\n' +
      '`vpnctl disconnect`, or the next start after a crash) routes, DNS and firewall are restored exactly.',
  ],
};
