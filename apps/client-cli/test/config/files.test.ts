/**
 * vpnctl's files when root and a user share a config dir (`sudo -E vpnctl connect` uses the invoking
 * user's XDG dirs): what root writes there must stay usable by the user, and a file the user cannot
 * read is a clear error, not "a bug in vpnctl". Needs root (chown, setpriv); skipped with a reason
 * otherwise.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/config/paths.js';
import { ConfigStore } from '../../src/config/store.js';
import { createDeviceKey } from '../../src/config/device-key.js';
import { ensurePrivateDir } from '../../src/config/files.js';
import { Journal } from '../../src/system/journal.js';
import { runProcess } from '../helpers/cli.js';

const NOBODY = 65534;
const asRoot = process.geteuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
if (!asRoot || !hasSetpriv) console.warn('not root or no setpriv: skipping the shared config dir tests');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A home directory that belongs to `nobody`, as the invoking user's home would under sudo -E. */
function userHome(): { home: string; env: Record<string, string> } {
  const top = mkdtempSync(path.join(os.tmpdir(), 'vpnctl-sudo-'));
  dirs.push(top);
  chmodSync(top, 0o755);
  const home = path.join(top, 'home');
  mkdirSync(home, { mode: 0o700 });
  chownSync(home, NOBODY, NOBODY);
  return {
    home,
    env: {
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_STATE_HOME: path.join(home, '.local/state'),
    },
  };
}

describe.skipIf(!asRoot || !hasSetpriv)('a config dir shared by root and its user', () => {
  it("root's writes into the user's config dir go to the user; the restore journal stays root's", async () => {
    const { home, env } = userHome();
    const paths = resolvePaths(env, home);
    const store = new ConfigStore(paths);
    await store.writeConfig({ version: 1, server: 'https://vpn.example', trust: { mode: 'system' } });
    await store.writeCredentials({
      version: 1,
      server: 'https://vpn.example',
      accessToken: 'a',
      accessExpiresAt: 1,
      refreshToken: 'r',
      refreshExpiresAt: 2,
      user: { id: 'u', email: 'e@example.com', role: 'user' },
    });
    await createDeviceKey(paths.deviceKeyFile);
    for (const p of [
      path.join(home, '.config'),
      paths.configDir,
      paths.configFile,
      paths.credentialsFile,
      paths.deviceKeyFile,
    ]) {
      expect(statSync(p).uid, p).toBe(NOBODY);
    }
    expect(statSync(paths.credentialsFile).mode & 0o777).toBe(0o600);
    expect(statSync(paths.configDir).mode & 0o777).toBe(0o700);
    const read = spawnSync(
      'setpriv',
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'cat', paths.credentialsFile],
      {
        encoding: 'utf8',
      },
    );
    expect(read.status, read.stderr).toBe(0);
    const journal = await Journal.create(paths.journalFile);
    expect(statSync(paths.journalFile).uid).toBe(0);
    await journal.remove();
  });

  it('a config file the user cannot read is a clear error with a fix, not a bug (exit 1)', async () => {
    const { home, env } = userHome();
    const dir = path.join(home, '.config', 'corridor');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chownSync(path.join(home, '.config'), NOBODY, NOBODY);
    chownSync(dir, NOBODY, NOBODY);
    writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({ version: 1, server: 'https://vpn.example', trust: { mode: 'system' } }),
      {
        mode: 0o600,
      },
    ); // root's: as an older vpnctl left it after `sudo -E`
    const r = await runProcess(['whoami'], {
      env,
      prefix: ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'],
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('belongs to another user');
    expect(r.stderr).toMatch(/hint: .*chown/);
    expect(r.stderr).not.toContain('bug');
  }, 60_000);

  it("a private dir that is the user's symbolic link to someone else's directory is refused, not chmod'ed", async () => {
    const { home } = userHome();
    const elsewhere = path.join(path.dirname(home), 'system-dir'); // root's, 0755, like /etc
    mkdirSync(elsewhere, { mode: 0o755 });
    chmodSync(elsewhere, 0o755);
    const link = path.join(home, 'corridor');
    symlinkSync(elsewhere, link);
    lchownSync(link, NOBODY, NOBODY);
    await expect(ensurePrivateDir(link)).rejects.toMatchObject({
      code: 'CORRIDOR_ERR_CONFIG',
      message: expect.stringContaining('symbolic link'),
    });
    expect(statSync(elsewhere).mode & 0o777).toBe(0o755);
    // The user's own dotfiles-style link to their own directory is fine.
    const own = path.join(home, 'dotfiles-corridor');
    mkdirSync(own, { mode: 0o755 });
    chownSync(own, NOBODY, NOBODY);
    const ownLink = path.join(home, 'corridor-own');
    symlinkSync(own, ownLink);
    lchownSync(ownLink, NOBODY, NOBODY);
    await ensurePrivateDir(ownLink);
    expect(statSync(own).mode & 0o777).toBe(0o700);
  });
});
