/** resolv.conf handling on temporary files (never the machine's own /etc/resolv.conf). */
import {
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  existsSync,
  lstatSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DnsGuard, undoDns } from '../../src/system/dns.js';
import { Journal, readJournal } from '../../src/system/journal.js';
import { undoAll } from '../../src/system/restore.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'vpnctl-dns-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('DnsGuard', () => {
  it('writes only the pushed servers, journals first, restores the exact bytes', async () => {
    const d = tmp();
    const file = path.join(d, 'resolv.conf');
    const original = '# my resolver\nnameserver 198.18.255.53\nsearch example.test\noptions ndots:2\n';
    writeFileSync(file, original);
    const journal = await Journal.create(path.join(d, 'journal.json'));
    const guard = await DnsGuard.apply(journal, file, ['10.8.0.1', '10.8.0.2'], 'fra-1');
    const written = readFileSync(file, 'utf8');
    expect(written.split('\n').filter((l) => l.startsWith('nameserver'))).toEqual([
      'nameserver 10.8.0.1',
      'nameserver 10.8.0.2',
    ]);
    expect(written).not.toContain('198.18.255.53');
    expect(written).not.toContain('search');
    const onDisk = await readJournal(journal.file);
    expect(onDisk!.changes).toEqual([{ kind: 'dns', path: file, original, symlink: null, written }]);
    expect(guard.path).toBe(file);
    await undoAll(journal.entries, () => undefined);
    expect(readFileSync(file, 'utf8')).toBe(original);
  });

  it('keeps the same inode (bind-mounted resolv.conf files keep working)', async () => {
    const d = tmp();
    const file = path.join(d, 'resolv.conf');
    writeFileSync(file, 'nameserver 198.18.255.53\n');
    const ino = lstatSync(file).ino;
    const journal = await Journal.create(path.join(d, 'journal.json'));
    await DnsGuard.apply(journal, file, ['10.8.0.1'], 'n');
    expect(lstatSync(file).ino).toBe(ino);
    await undoAll(journal.entries, () => undefined);
    expect(lstatSync(file).ino).toBe(ino);
  });

  it('replaces a symlink by a file (never writing its target) and puts the link back', async () => {
    const d = tmp();
    const target = path.join(d, 'stub-resolv.conf');
    writeFileSync(target, 'nameserver 127.0.0.53\n');
    const file = path.join(d, 'resolv.conf');
    symlinkSync(target, file);
    const journal = await Journal.create(path.join(d, 'journal.json'));
    await DnsGuard.apply(journal, file, ['10.8.0.1'], 'n');
    expect(lstatSync(file).isSymbolicLink()).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe('nameserver 127.0.0.53\n');
    await undoAll(journal.entries, () => undefined);
    expect(readlinkSync(file)).toBe(target);
  });

  it('a missing resolv.conf is removed again on restore', async () => {
    const d = tmp();
    const file = path.join(d, 'resolv.conf');
    const journal = await Journal.create(path.join(d, 'journal.json'));
    await DnsGuard.apply(journal, file, ['10.8.0.1'], 'n');
    expect(existsSync(file)).toBe(true);
    await undoAll(journal.entries, () => undefined);
    expect(existsSync(file)).toBe(false);
  });

  it("leaves someone else's later edit alone on restore, and says so", async () => {
    const d = tmp();
    const file = path.join(d, 'resolv.conf');
    writeFileSync(file, 'nameserver 198.18.255.53\n');
    const journal = await Journal.create(path.join(d, 'journal.json'));
    await DnsGuard.apply(journal, file, ['10.8.0.1'], 'n');
    writeFileSync(file, 'nameserver 198.18.99.99\n'); // the admin edits it while connected
    const warnings: string[] = [];
    await undoAll(journal.entries, (w) => warnings.push(w));
    expect(readFileSync(file, 'utf8')).toBe('nameserver 198.18.99.99\n');
    expect(warnings[0]).toContain('changed by someone else');
  });

  it('check() re-asserts the tunnel DNS when a DHCP client rewrites the file, and restores the newer content later', async () => {
    const d = tmp();
    const file = path.join(d, 'resolv.conf');
    writeFileSync(file, 'nameserver 198.18.255.53\n');
    const journal = await Journal.create(path.join(d, 'journal.json'));
    const guard = await DnsGuard.apply(journal, file, ['10.8.0.1'], 'n');
    expect(await guard.check()).toBe(false);
    writeFileSync(file, 'nameserver 198.18.7.7\n');
    expect(await guard.check()).toBe(true);
    expect(readFileSync(file, 'utf8')).toContain('nameserver 10.8.0.1');
    await undoAll(journal.entries, () => undefined);
    expect(readFileSync(file, 'utf8')).toBe('nameserver 198.18.7.7\n');
  });

  it('a crash between journaling and writing restores nothing that was not changed', async () => {
    const d = tmp();
    const file = path.join(d, 'resolv.conf');
    writeFileSync(file, 'nameserver 198.18.255.53\n');
    const r = await undoDns({
      kind: 'dns',
      path: file,
      original: 'nameserver 198.18.255.53\n',
      symlink: null,
      written: 'nameserver 10.8.0.1\n',
    });
    expect(r).toBe('restored');
    expect(readFileSync(file, 'utf8')).toBe('nameserver 198.18.255.53\n');
  });

  it('unwritable path: a clear error naming --no-dns, nothing journaled', async () => {
    const d = tmp();
    const journal = await Journal.create(path.join(d, 'journal.json'));
    const file = path.join(d, 'no-such-dir', 'resolv.conf');
    await expect(DnsGuard.apply(journal, file, ['10.8.0.1'], 'n')).rejects.toMatchObject({
      code: 'CORRIDOR_ERR_SYSTEM',
    });
    expect(journal.entries).toEqual([]);
  });
});
