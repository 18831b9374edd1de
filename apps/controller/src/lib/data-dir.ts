/** Files the controller generates into its data dir in development (secrets are written 0600). */
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export async function ensureDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
}

/** Reads `dataDir/name`, or creates it with `generate()` (mode 0600). Returns the file's content. */
export async function readOrCreateSecretFile(
  dataDir: string,
  name: string,
  generate: () => string,
): Promise<{ value: string; created: boolean }> {
  const file = path.join(dataDir, name);
  try {
    return { value: (await readFile(file, 'utf8')).trim(), created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await ensureDataDir(dataDir);
  const value = generate();
  await writeFile(file, `${value}\n`, { mode: 0o600, flag: 'wx' }).catch(async (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  await chmod(file, 0o600);
  return { value: (await readFile(file, 'utf8')).trim(), created: true };
}

export function randomSecret(bytes: number, encoding: 'base64url' | 'hex'): string {
  return randomBytes(bytes).toString(encoding);
}
