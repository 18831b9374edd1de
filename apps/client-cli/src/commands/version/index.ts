import type { CommandSpec } from '../../command.js';
import { UsageError } from '../../errors.js';
import { CLI_VERSION } from '../../version.js';
import { PROTOCOL_VERSION } from '@corridor/protocol';

export const versionCommand: CommandSpec = {
  name: 'version',
  summary: 'Print the vpnctl and protocol versions.',
  usage: 'vpnctl version [--json]',
  options: [{ flag: '--json', description: 'print machine-readable JSON on stdout' }],
  examples: ['vpnctl version', 'vpnctl version --json'],
  async run(args, io) {
    const json = args.includes('--json');
    const unknown = args.filter((a) => a !== '--json');
    if (unknown.length > 0) throw new UsageError(`unknown argument: ${unknown[0]}`);
    io.stdout.write(
      json
        ? JSON.stringify({ version: CLI_VERSION, protocolVersion: PROTOCOL_VERSION }) + '\n'
        : `vpnctl ${CLI_VERSION} (protocol ${PROTOCOL_VERSION})\n`,
    );
    return 0;
  },
};
