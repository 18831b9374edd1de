import type { CommandSpec } from '../../command.js';

export const spec: CommandSpec = {
  name: 'login',
  summary: 'Log in to a Corridor controller.',
  usage: ['vpnctl login [--server URL] [--email E] [--password-stdin] [--ca FILE | --pin SHA256] [--json]'],
  positionals: [],
  options: [
    {
      name: 'server',
      type: 'string',
      value: 'URL',
      description: 'controller URL (https://...); default: the last one used',
    },
    { name: 'email', type: 'string', value: 'E', description: 'account e-mail (prompted on a terminal)' },
    {
      name: 'password-stdin',
      type: 'boolean',
      description: 'read the password from standard input (for scripts)',
    },
    {
      name: 'ca',
      type: 'string',
      value: 'FILE',
      description: "trust only this CA bundle (PEM) for the controller's certificate",
    },
    {
      name: 'pin',
      type: 'string',
      value: 'SHA256',
      description:
        'trust only the certificate with this SHA-256 fingerprint (AB:CD:... as the controller prints it)',
    },
    {
      name: 'yes',
      short: 'y',
      type: 'boolean',
      description: 'do not ask to confirm a new certificate (it is still verified)',
    },
    { name: 'json', type: 'boolean', description: 'print the result as JSON on stdout' },
  ],
  examples: [
    'vpnctl login --server https://vpn.example.com --email alice@example.com',
    'vpnctl login --server https://198.51.100.7:8443 --pin 3A:1F:...:9C',
    'printf %s "$PASSWORD" | vpnctl login --server https://vpn.example.com --email alice@example.com --password-stdin',
  ],
  notes: [
    'TLS verification is never turned off. A controller with a self-signed certificate is trusted only\n' +
      'through --pin (its SHA-256 fingerprint) or --ca (the CA that signed it); on a terminal the\n' +
      'certificate is shown for confirmation the first time. The password is never echoed or stored:\n' +
      'only the tokens are, in credentials.json (mode 0600).',
    'JSON (--json): {"server","user":{"id","email","role"},"trust":{"mode":"system|ca|pin","fingerprint256"}}',
  ],
};
