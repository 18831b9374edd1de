import type { CommandSpec } from '../../command.js';

export const DEFAULT_SOCKS = '127.0.0.1:1080';
export const DEFAULT_HTTP = '127.0.0.1:3128';

export const spec: CommandSpec = {
  name: 'proxy',
  summary: 'Run a local SOCKS5 / HTTP proxy through a node (no root, no system changes).',
  usage: [
    'vpnctl proxy <node|auto> [--region R] [--transport udp|tcp|auto] [--socks ADDR|off] [--http ADDR|off]',
    '             [--user USER] [--allow-remote] [--json]',
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
      name: 'socks',
      type: 'string',
      value: 'ADDR',
      description: `SOCKS5 proxy address, HOST:PORT or PORT, or off (default ${DEFAULT_SOCKS})`,
    },
    {
      name: 'http',
      type: 'string',
      value: 'ADDR',
      description: `HTTP proxy address (CONNECT and http:// URLs), or off (default ${DEFAULT_HTTP})`,
    },
    {
      name: 'user',
      type: 'string',
      value: 'USER',
      description:
        'require this username (password from $CORRIDOR_PROXY_PASSWORD) on both proxies; also $CORRIDOR_PROXY_USER',
    },
    {
      name: 'allow-remote',
      type: 'boolean',
      description: 'allow a non-loopback listen address (only together with --user)',
    },
    {
      name: 'json',
      type: 'boolean',
      description: 'once connected, print the status as JSON on stdout (the `vpnctl status --json` format)',
    },
  ],
  examples: [
    'vpnctl proxy auto',
    'curl --socks5-hostname 127.0.0.1:1080 https://example.com/',
    'curl --proxy http://127.0.0.1:3128 https://example.com/',
    'vpnctl proxy fra-1 --socks 127.0.0.1:9050 --http off',
    'CORRIDOR_PROXY_PASSWORD=... vpnctl proxy auto --socks 0.0.0.0:1080 --http off --user me --allow-remote',
  ],
  notes: [
    'Without --socks and --http both proxies listen on their defaults; with one of them only that one.\n' +
      'Nothing on the system changes (no interface, routes, DNS or firewall) and no root is needed: each\n' +
      "proxied connection is a connection of vpnctl's own TCP/IP stack from the tunnel address, carried\n" +
      "through the ordinary encrypted tunnel, so sites see the node's address. Host names (socks5h, HTTP)\n" +
      'are resolved through the tunnel by the DNS servers the node pushes, never locally. SOCKS5 supports\n' +
      'CONNECT and UDP ASSOCIATE. `vpnctl status` shows the proxy; `vpnctl disconnect` or Ctrl-C stops it.',
  ],
};
