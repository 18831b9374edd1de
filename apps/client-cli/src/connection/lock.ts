/**
 * One connection at a time per state directory: `connection.pid` in the runtime dir, created
 * exclusively, holding the owner's pid. A file whose process is gone is taken over.
 */
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir } from '../config/files.js';
import { CLI_ERROR_CODES, UserError } from '../errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireConnectionLock(file: string): Promise<() => Promise<void>> {
  await ensurePrivateDir(path.dirname(file));
  for (let tries = 0; tries < 3; tries++) {
    try {
      const h = await fs.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      await h.writeFile(String(process.pid));
      await h.close();
      return async () => {
        const owner = Number(await fs.readFile(file, 'utf8').catch(() => ''));
        if (owner === process.pid) await fs.rm(file, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(await fs.readFile(file, 'utf8').catch(() => ''));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new UserError(
          CLI_ERROR_CODES.ALREADY_CONNECTED,
          `a connection is already running (pid ${pid})`,
          'see it with `vpnctl status`; stop it with `vpnctl disconnect` before connecting again',
        );
      }
      await fs.rm(file, { force: true });
    }
  }
  throw new UserError(
    CLI_ERROR_CODES.SYSTEM,
    `cannot take ${file}`,
    `remove it if no vpnctl is running (rm ${file})`,
  );
}
