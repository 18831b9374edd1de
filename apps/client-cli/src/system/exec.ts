/**
 * Runs system tools (`ip`, `nft`) with an argument vector — never a shell; every value that reaches
 * argv is validated by the caller first. Failures become `CommandError`s carrying the tool's stderr,
 * which callers turn into UserErrors with a fix, or tolerate (e.g. "already gone" during cleanup).
 */
import { execFile } from 'node:child_process';
import { CLI_ERROR_CODES, UserError } from '../errors.js';

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly stderr: string,
    readonly exitCode: number | null,
    readonly spawnCode?: string,
  ) {
    super(`${command} ${args.join(' ')}: ${stderr.trim() || `exit ${exitCode}`}`);
  }

  /** The object was already absent (deleting a route/table that is gone). */
  get notFound(): boolean {
    return /No such process|No such file or directory|Cannot find device|does not exist|not found/i.test(
      this.stderr,
    );
  }

  get exists(): boolean {
    return /File exists/i.test(this.stderr);
  }

  get notPermitted(): boolean {
    return /Operation not permitted|Permission denied/i.test(this.stderr);
  }
}

/** Binaries, overridable for unusual systems. */
export const IP = process.env.CORRIDOR_IP_COMMAND ?? 'ip';
export const NFT = process.env.CORRIDOR_NFT_COMMAND ?? 'nft';

const PACKAGES: Record<string, string> = { ip: 'iproute2', nft: 'nftables' };

export function run(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      [...args],
      { timeout: 15_000, encoding: 'utf8', maxBuffer: 8 << 20 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const spawnCode = (err as NodeJS.ErrnoException).code;
        if (spawnCode === 'ENOENT') {
          const base = command.split('/').pop() ?? command;
          return reject(
            new UserError(
              CLI_ERROR_CODES.SYSTEM,
              `'${command}' is not installed (vpnctl needs it to configure the tunnel)`,
              `install it: apt-get install ${PACKAGES[base] ?? base}`,
            ),
          );
        }
        reject(
          new CommandError(
            command,
            args,
            String(stderr ?? ''),
            typeof err.code === 'number' ? err.code : null,
            typeof spawnCode === 'string' ? spawnCode : undefined,
          ),
        );
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** A CommandError as the user should see it: what failed and, for missing privileges, the fix. */
export function systemError(e: unknown, what: string): Error {
  if (!(e instanceof CommandError)) return e as Error;
  if (e.notPermitted) {
    return new UserError(
      CLI_ERROR_CODES.NOT_PERMITTED,
      `cannot ${what}: not permitted`,
      'run vpnctl as root (sudo vpnctl ...) or give it CAP_NET_ADMIN',
      { cause: e },
    );
  }
  return new UserError(CLI_ERROR_CODES.SYSTEM, `cannot ${what}: ${e.stderr.trim() || e.message}`, undefined, {
    cause: e,
  });
}
