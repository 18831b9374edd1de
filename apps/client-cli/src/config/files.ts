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

export interface WritePrivateOptions {
  /**
   * For the user's own files (config, credentials, device key): when root writes them into a
   * directory that belongs to another user — `sudo -E vpnctl connect` uses the invoking user's
   * config dir — the new file (and any directory created for it) is given to that directory's
   * owner, so the user's own `vpnctl` keeps working without sudo afterwards. Not for the restore
   * journal, which must stay root's (see ReadPrivateOptions.mustBeOwn).
   */
  readonly forDirOwner?: boolean;
}

const runningAsRoot = () => process.geteuid?.() === 0;

/** Creates `dir` (and parents) and makes sure it is private to its owner. */
export async function ensurePrivateDir(dir: string, options: WritePrivateOptions = {}): Promise<void> {
  const first = await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
  if (first !== undefined && options.forDirOwner && runningAsRoot()) {
    const parent = await fs.stat(path.dirname(first));
    if (parent.uid !== 0) {
      // Deepest first, and never following a symbolic link, so the parents stay root's until the end.
      const created: string[] = [];
      for (let d = dir; d.length >= first.length; d = path.dirname(d)) created.push(d);
      for (const d of created) await fs.lchown(d, parent.uid, parent.gid);
    }
  }
  const st = await fs.stat(dir);
  const link = await fs.lstat(dir);
  if (link.isSymbolicLink() && link.uid !== st.uid) {
    // Under `sudo -E` a link the user planted (~/.config/corridor -> /etc) would have root chmod
    // and fill a directory that is not the user's. A link to one's own directory is fine.
    throw new UserError(
      CLI_ERROR_CODES.CONFIG,
      `${dir} is a symbolic link to a directory of another user (uid ${st.uid}); vpnctl keeps its files only in its own`,
      `remove the link (rm ${dir}) and run the command again`,
    );
  }
  if ((st.mode & 0o077) !== 0) await fs.chmod(dir, DIR_MODE);
}

/** Atomically replaces `file` with `data`, mode 0600, creating its directory 0700. */
export async function writePrivateFile(
  file: string,
  data: string | Uint8Array,
  options: WritePrivateOptions = {},
): Promise<void> {
  const dir = path.dirname(file);
  await ensurePrivateDir(dir, options);
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, FILE_MODE);
  try {
    if (options.forDirOwner && runningAsRoot()) {
      const owner = await fs.stat(dir);
      if (owner.uid !== 0) await handle.chown(owner.uid, owner.gid);
    }
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

export async function writePrivateJson(
  file: string,
  value: unknown,
  options: WritePrivateOptions = {},
): Promise<void> {
  await writePrivateFile(file, JSON.stringify(value, null, 2) + '\n', options);
}

export interface ReadPrivateOptions {
  /**
   * Refuse a file that belongs to another user. For files whose content steers what vpnctl does as
   * root (the restore journal names files to rewrite): under `sudo -E` the state dir is the
   * invoking user's, and whatever that user (or a program running as them) put there must not
   * decide which files root writes.
   */
  readonly mustBeOwn?: boolean;
}

/** Reads a file we own; undefined when missing. Tightens a file that became group/world readable. */
export async function readPrivateFile(
  file: string,
  options: ReadPrivateOptions = {},
): Promise<Buffer | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if ((e as NodeJS.ErrnoException).code === 'EACCES' || (e as NodeJS.ErrnoException).code === 'EPERM') {
      throw new UserError(
        CLI_ERROR_CODES.CONFIG,
        `cannot read ${file}: it belongs to another user (was vpnctl run with sudo -E?)`,
        options.mustBeOwn
          ? 'it was written by a connection started with sudo: run this command with sudo too (sudo -E if the connection was started with sudo -E)'
          : `give it back to yourself (sudo chown -R "$(id -un)" ${path.dirname(file)}), or run this command with sudo too`,
        { cause: e },
      );
    }
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
    const me = process.geteuid?.();
    if (options.mustBeOwn && me !== undefined && st.uid !== me) {
      throw new UserError(
        CLI_ERROR_CODES.CONFIG,
        `${file} belongs to another user (uid ${st.uid}); vpnctl only acts on a state file it wrote itself`,
        `remove it (rm ${file}); if a crashed connection left routes or DNS changed, restore them by hand`,
      );
    }
    if ((st.mode & 0o077) !== 0) await handle.chmod(FILE_MODE);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

export async function readPrivateJson<T>(
  file: string,
  check: (v: unknown) => v is T,
  options: ReadPrivateOptions = {},
): Promise<T | undefined> {
  const raw = await readPrivateFile(file, options);
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
