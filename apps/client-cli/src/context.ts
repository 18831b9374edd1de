/**
 * The injected context every command handler receives: streams, terminal state, environment,
 * file locations, the config store, a prompter and an API client factory. `main.ts` builds the
 * real one from `process`; tests build one with fake streams and temporary directories.
 */
import { ApiClient } from './api/client.js';
import { resolvePaths, type Paths } from './config/paths.js';
import { ConfigStore } from './config/store.js';
import { CLI_ERROR_CODES, UserError } from './errors.js';
import { NoPrompter, TerminalPrompter, type Prompter } from './output/prompt.js';

export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin?: NodeJS.ReadableStream;
  /** Both stdin and stderr are terminals: prompts are allowed. */
  readonly isTTY: boolean;
  /** stdout is a terminal: live status line, aligned tables. Defaults to `isTTY`. */
  readonly stdoutIsTTY?: boolean;
  readonly env: NodeJS.ProcessEnv;
  /** Replaces the terminal prompter (tests). */
  readonly prompter?: Prompter;
  /** How to start this program again (for `connect --detach`): argv before the command. */
  readonly selfCommand?: readonly string[];
}

export interface CliContext {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  readonly interactive: boolean;
  readonly stdoutIsTTY: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly debug: boolean;
  readonly paths: Paths;
  readonly store: ConfigStore;
  readonly prompt: Prompter;
  readonly selfCommand: readonly string[];
  /** An API client for the controller in config.json; NOT_LOGGED_IN when there is none. */
  api(): Promise<ApiClient>;
  now(): number;
  /** A message for the user (stderr). */
  say(text: string): void;
}

export function createContext(io: CliIo, debug: boolean): CliContext {
  const paths = resolvePaths(io.env);
  const store = new ConfigStore(paths);
  const stdin = io.stdin ?? process.stdin;
  const prompt = io.prompter ?? (io.isTTY ? new TerminalPrompter(stdin, io.stderr) : new NoPrompter());
  return {
    stdout: io.stdout,
    stderr: io.stderr,
    stdin,
    interactive: io.isTTY,
    stdoutIsTTY: io.stdoutIsTTY ?? io.isTTY,
    env: io.env,
    debug,
    paths,
    store,
    prompt,
    selfCommand: io.selfCommand ?? [process.execPath, ...process.execArgv, process.argv[1] ?? 'vpnctl'],
    async api() {
      const config = await store.readConfig();
      if (config === undefined) {
        throw new UserError(
          CLI_ERROR_CODES.NOT_LOGGED_IN,
          'you are not logged in',
          'log in with `vpnctl login --server https://controller.example`',
        );
      }
      return new ApiClient(store, config);
    },
    now: () => Date.now(),
    say(text: string) {
      io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
    },
  };
}
