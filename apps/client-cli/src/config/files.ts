/**
 * Private files: directories 0700, files 0600, written atomically (temporary file in the same
 * directory, fsync, rename) so a crash never leaves half a credentials file. Readers tolerate a
 * missing file (undefined) and report a corrupt one as a UserError naming the file.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { CLI_ERROR_CODES, UserError } from '../errors.js';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** Creates `dir` (and parents) and makes sure it is private to its owner. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
    const st = await fs.stat(dir);
    if ((st.mode & 0o077) !== 0) await fs.chmod(dir, DIR_MODE);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS' && code !== 'ENOTDIR') throw e;
    // Typical for a user without a home (nobody: /nonexistent) or an XDG dir inherited from another
    // user (sudo, su): name the directory and the variables that move it.
    throw new UserError(
      CLI_ERROR_CODES.CONFIG,
      `cannot use ${dir} (${code}): this user may not create or own it`,
      'vpnctl keeps its files under $XDG_CONFIG_HOME, $XDG_STATE_HOME and $XDG_RUNTIME_DIR (defaults under ' +
        '$HOME): point them, or CORRIDOR_CONFIG_DIR / CORRIDOR_STATE_DIR / CORRIDOR_RUNTIME_DIR, at directories this user owns',
      { cause: e },
    );
  }
}

/** Atomically replaces `file` with `data`, mode 0600, creating its directory 0700. */
export async function writePrivateFile(file: string, data: string | Uint8Array): Promise<void> {
  await ensurePrivateDir(path.dirname(file));
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, FILE_MODE);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

export async function writePrivateJson(file: string, value: unknown): Promise<void> {
  await writePrivateFile(file, JSON.stringify(value, null, 2) + '\n');
}

/** Reads a file we own; undefined when missing. Tightens a file that became group/world readable. */
export async function readPrivateFile(file: string): Promise<Buffer | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new UserError(
        CLI_ERROR_CODES.CONFIG,
        `${file} is a symbolic link; vpnctl keeps its secrets only in regular files`,
        `remove it (rm ${file}) and log in again`,
      );
    }
    throw e;
  }
  try {
    const st = await handle.stat();
    if ((st.mode & 0o077) !== 0) await handle.chmod(FILE_MODE);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

export async function readPrivateJson<T>(
  file: string,
  check: (v: unknown) => v is T,
): Promise<T | undefined> {
  const raw = await readPrivateFile(file);
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    value = undefined;
  }
  if (!check(value)) {
    throw new UserError(
      CLI_ERROR_CODES.CONFIG,
      `${file} is damaged (not the JSON vpnctl wrote)`,
      `remove it (rm ${file}) and run the command again; you may have to log in again`,
    );
  }
  return value;
}

export async function removeFile(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}
