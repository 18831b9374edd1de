import type { CommandSpec } from '../../command.js';

export const spec: CommandSpec = {
  name: 'connect',
  summary: 'Connect to a node and route traffic through it (needs root).',
  usage: [
    'vpnctl connect <node|auto> [--region R] [--transport udp|tcp|tls|wss|auto] [--split CIDR ...]',
    '               [--proxy http://host:port] [--tls-pin SHA256 | --tls-ca FILE] [--sni NAME]',
    '               [--tls-port N] [--wss-path PATH] [--padding off|buckets]',
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
      choices: ['udp', 'tcp', 'tls', 'wss', 'auto'],
      description:
        'udp, tcp, tls (TLS 1.3 on the HTTPS port), wss (WebSocket over HTTPS), or auto (default: ' +
        'the one that worked last on this network first, then udp, tcp, tls, wss)',
    },
    {
      name: 'proxy',
      type: 'string',
      value: 'URL',
      description: 'HTTP CONNECT proxy for tls and wss, http://host:port (default $HTTPS_PROXY)',
    },
    {
      name: 'tls-pin',
      type: 'string',
      value: 'SHA256',
      description: "tls/wss: the node certificate's SHA-256 fingerprint (or $CORRIDOR_TLS_PIN)",
    },
    {
      name: 'tls-ca',
      type: 'string',
      value: 'FILE',
      description: "tls/wss: PEM CA the node's certificate must chain to (or $CORRIDOR_TLS_CA)",
    },
    {
      name: 'sni',
      type: 'string',
      value: 'NAME',
      description: 'tls/wss: server name sent in the TLS handshake',
    },
    {
      name: 'tls-port',
      type: 'string',
      value: 'N',
      description: "tls/wss: the node's HTTPS port (default 443)",
    },
    { name: 'wss-path', type: 'string', value: 'PATH', description: 'wss: the HTTPS path (default /ws)' },
    {
      name: 'padding',
      type: 'string',
      value: 'MODE',
      choices: ['off', 'buckets'],
      description: 'tcp/tls/wss: pad what this client sends to size buckets (default off)',
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
    'sudo vpnctl connect fra-1 --transport wss --tls-pin AB:CD:... --proxy http://proxy.corp:3128',
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
