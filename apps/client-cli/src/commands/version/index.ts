import { PROTOCOL_VERSION } from '@corridor/protocol';
import { bool, type Command } from '../../command.js';
import { writeJson } from '../../output/format.js';
import { CLI_VERSION, versionLine } from '../../version.js';
import { spec } from './command.js';

export const versionCommand: Command = {
  spec,
  async run(args, ctx) {
    if (bool(args, 'json'))
      writeJson(ctx.stdout, { version: CLI_VERSION, protocolVersion: PROTOCOL_VERSION });
    else ctx.stdout.write(versionLine() + '\n');
    return 0;
  },
};
