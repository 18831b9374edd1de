/**
 * vpnctl entry: dispatches to one command folder, maps errors to exit codes.
 * stdout carries data, stderr carries messages; nothing prompts when not on a TTY.
 */
import { formatHelp, type CliIo, type CommandSpec } from './command.js';
import { versionCommand } from './commands/version/index.js';
import { EXIT_BUG, EXIT_USAGE, EXIT_USER_ERROR, UsageError, UserError } from './errors.js';
import { versionLine } from './version.js';

export const COMMANDS: readonly CommandSpec[] = [versionCommand];

export function rootHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'vpnctl: the Corridor VPN client.',
    '',
    'Usage:',
    '  vpnctl <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    '  --help, -h   show help for vpnctl or a command',
    '  --debug      show stack traces for unexpected errors',
    '',
    'Examples:',
    '  vpnctl version',
    '  vpnctl version --help',
    '',
  ].join('\n');
}

/** Runs vpnctl with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(rootHelp());
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === '--version') {
    io.stdout.write(versionLine() + '\n');
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`vpnctl: unknown command '${name}'\n\n${rootHelp()}`);
    return EXIT_USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(formatHelp(command));
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UserError) {
      io.stderr.write(`vpnctl: ${error.message}\n${error.hint ? `hint: ${error.hint}\n` : ''}`);
      return EXIT_USER_ERROR;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`vpnctl ${command.name}: ${error.message}\n\n${formatHelp(command)}`);
      return EXIT_USAGE;
    }
    const e = error instanceof Error ? error : new Error(String(error));
    io.stderr.write(
      `vpnctl: unexpected error: ${e.message}\n` +
        (debug ? `${e.stack ?? ''}\n` : 'This is a bug in vpnctl; rerun with --debug for details.\n'),
    );
    return EXIT_BUG;
  }
}
