/**
 * vpnctl entry: parses the command line against the command's declarative spec, runs its handler
 * with an injected context and maps errors to exit codes (0 ok, 1 failure, 2 usage).
 * stdout carries data, stderr carries messages; nothing prompts when not on a terminal.
 * With `--json`, a failure is also printed on stdout as `{"error":{"code","message","hint",...}}`.
 */
import { formatHelp, parseCommandArgs, type Command } from './command.js';
import { createContext, type CliIo } from './context.js';
import { EXIT_BUG, EXIT_USAGE, EXIT_USER_ERROR, UsageError, UserError } from './errors.js';
import { versionLine } from './version.js';
import { COMMANDS } from './commands/index.js';

export type { CliIo } from './context.js';

export function rootHelp(): string {
  const visible = COMMANDS.filter((c) => !c.spec.hidden);
  const width = Math.max(...visible.map((c) => c.spec.name.length));
  return [
    'vpnctl: the Corridor VPN client.',
    '',
    'Usage:',
    '  vpnctl <command> [options]',
    '',
    'Commands:',
    ...visible.map((c) => `  ${c.spec.name.padEnd(width)}  ${c.spec.summary}`),
    '',
    'Options:',
    '  -h, --help   show help for vpnctl or a command',
    '  --version    print the version',
    '  --debug      show stack traces and request details on errors',
    '',
    'Examples:',
    '  vpnctl login --server https://vpn.example.com',
    '  vpnctl nodes --region eu-central',
    '  sudo vpnctl connect auto --region eu-central',
    '  vpnctl status',
    '',
    'Files: config and credentials in $XDG_CONFIG_HOME/corridor (0600), connection state in',
    '$XDG_STATE_HOME/corridor. Run `vpnctl <command> --help` for details.',
    '',
  ].join('\n');
}

function errorJson(e: UserError): string {
  return JSON.stringify({ error: e.toJSON() }) + '\n';
}

/** Runs vpnctl with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const debug = argv.includes('--debug');
  const [name, ...rest] = argv.filter((a) => a !== '--debug');
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0] !== undefined) return main([rest[0], '--help'], io);
    (name === undefined ? io.stderr : io.stdout).write(rootHelp());
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(versionLine() + '\n');
    return 0;
  }
  const command: Command | undefined = COMMANDS.find((c) => c.spec.name === name);
  if (!command) {
    const close = COMMANDS.find((c) => c.spec.name.startsWith(name.slice(0, 3)));
    io.stderr.write(
      `vpnctl: unknown command '${name}'${close ? ` (did you mean '${close.spec.name}'?)` : ''}\n\n${rootHelp()}`,
    );
    return EXIT_USAGE;
  }
  const json = rest.includes('--json');
  let ctx;
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(formatHelp(command.spec));
    return 0;
  }
  try {
    const args = parseCommandArgs(command.spec, rest);
    ctx = createContext(io, debug);
    return await command.run(args, ctx);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`vpnctl ${command.spec.name}: ${error.message}\n\n${formatHelp(command.spec)}`);
      return EXIT_USAGE;
    }
    if (error instanceof UserError) {
      if (json) io.stdout.write(errorJson(error));
      io.stderr.write(`vpnctl: ${error.message}\n${error.hint ? `hint: ${error.hint}\n` : ''}`);
      if (debug && error.cause) {
        const c = error.cause as Error;
        io.stderr.write(`cause: ${c.stack ?? String(c)}\n`);
      }
      return EXIT_USER_ERROR;
    }
    const e = error instanceof Error ? error : new Error(String(error));
    if (json) {
      io.stdout.write(
        JSON.stringify({ error: { code: 'CORRIDOR_ERR_INTERNAL', message: e.message, hint: null } }) + '\n',
      );
    }
    io.stderr.write(
      `vpnctl: unexpected error: ${e.message}\n` +
        (debug ? `${e.stack ?? ''}\n` : 'This is a bug in vpnctl; rerun with --debug for the details.\n'),
    );
    return EXIT_BUG;
  }
}
