import { chmod, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOrCreateSecretFile } from '../../src/lib/data-dir.js';
import { loadTls } from '../../src/lib/tls.js';
import { makeConfig, tempDir } from '../helpers.js';

const mode = async (f: string) => (await stat(f)).mode & 0o777;

describe('data dir files', () => {
  it('creates secrets 0600 and narrows existing ones that group or others can read', async () => {
    const tmp = await tempDir();
    try {
      const created = await readOrCreateSecretFile(tmp.dir, 'jwt-secret', () => 'generated-secret');
      expect(created).toEqual({ value: 'generated-secret', created: true });
      expect(await mode(path.join(tmp.dir, 'jwt-secret'))).toBe(0o600);

      const file = path.join(tmp.dir, 'signing-key-encryption-key');
      await writeFile(file, 'restored-from-backup\n');
      await chmod(file, 0o644);
      const read = await readOrCreateSecretFile(tmp.dir, 'signing-key-encryption-key', () => 'unused');
      expect(read).toEqual({ value: 'restored-from-backup', created: false });
      expect(await mode(file)).toBe(0o600);

      // A truncated secret file is an error, never an empty secret.
      await writeFile(path.join(tmp.dir, 'empty'), '');
      await expect(readOrCreateSecretFile(tmp.dir, 'empty', () => 'unused')).rejects.toThrow(/is empty/);

      // The generated TLS key too, when it is read back on a later start.
      const config = makeConfig({ CORRIDOR_DATA_DIR: tmp.dir });
      await loadTls(config);
      const keyFile = path.join(tmp.dir, 'tls-key.pem');
      await chmod(keyFile, 0o640);
      const again = await loadTls(config);
      expect(again.generated).toBe(false);
      expect(await mode(keyFile)).toBe(0o600);
    } finally {
      await tmp.remove();
    }
  });
});
