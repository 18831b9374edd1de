/** Unit tests of the small system pieces: journal files, the control socket, the kill-switch script. */
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlServer, controlRequest } from '../../src/connection/control-socket.js';
import { killSwitchScript } from '../../src/system/firewall.js';
import { currentOwner, isJournalData, Journal, ownerAlive, readJournal } from '../../src/system/journal.js';
import { recoverStale } from '../../src/system/restore.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'vpnctl-unit-'));
  dirs.push(d);
  return d;
};
const deadPid = () =>
  Number(
    spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
      .stdout,
  );
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('journal', () => {
  it('is written 0600 before changes, read back, and removed', async () => {
    const d = tmp();
    const file = path.join(d, 'state', 'journal.json');
    const j = await Journal.create(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    await j.record({ kind: 'route', family: 4, spec: ['0.0.0.0/1', 'dev', 'corridor0'] });
    const back = await readJournal(file);
    expect(back?.changes).toEqual([{ kind: 'route', family: 4, spec: ['0.0.0.0/1', 'dev', 'corridor0'] }]);
    expect(back?.owner.pid).toBe(process.pid);
    await j.remove();
    expect(await readJournal(file)).toBeUndefined();
  });

  it('knows a live owner from a dead one, also when the pid is reused', async () => {
    const me = await currentOwner();
    expect(await ownerAlive(me)).toBe(true);
    expect(await ownerAlive({ ...me, startTicks: me.startTicks + 1 })).toBe(false); // same pid, other process
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    expect(await ownerAlive({ ...me, pid: Number(dead.stdout) })).toBe(false);
  });

  it('rejects tampered journals (e.g. a table name that would inject nft syntax)', () => {
    const owner = { pid: 1, startTicks: 1, netns: 'net:[1]' };
    const ok = {
      version: 1,
      owner,
      createdAt: 'x',
      changes: [{ kind: 'firewall', family: 'inet', table: 'corridor_vpnctl' }],
    };
    expect(isJournalData(ok)).toBe(true);
    expect(
      isJournalData({ ...ok, changes: [{ kind: 'firewall', family: 'inet', table: 'x; flush ruleset' }] }),
    ).toBe(false);
    expect(isJournalData({ ...ok, changes: [{ kind: 'route', family: 5, spec: [] }] })).toBe(false);
    expect(isJournalData({ ...ok, changes: [{ kind: 'exec', cmd: 'rm -rf /' }] })).toBe(false);
  });

  it('a damaged journal file is a clear error naming the file', async () => {
    const d = tmp();
    const file = path.join(d, 'journal.json');
    writeFileSync(file, '{"version":1', { mode: 0o600 });
    await expect(readJournal(file)).rejects.toMatchObject({
      code: 'CORRIDOR_ERR_CONFIG',
      message: expect.stringContaining(file),
    });
  });

  it('recovery leaves a live connection and another namespace alone', async () => {
    const d = tmp();
    const file = path.join(d, 'journal.json');
    await Journal.create(file); // owned by this (live) process
    expect((await recoverStale(file, () => undefined)).state).toBe('live');
    const me = await currentOwner();
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        owner: { ...me, pid: 999_999_999, netns: 'net:[1]' },
        createdAt: 'x',
        changes: [],
      }),
      { mode: 0o600 },
    );
    expect((await recoverStale(file, () => undefined)).state).toBe('elsewhere');
  });

  // Under `sudo -E` the state dir is the invoking user's: a journal planted there (by that user, or
  // by anything running as them) must not make root rewrite files. This one would have root
  // overwrite a root-owned file with the planter's text.
  const asRoot = process.geteuid?.() === 0;
  it.skipIf(!asRoot)('refuses to restore from a journal that belongs to another user', async () => {
    const d = tmp();
    const victim = path.join(d, 'victim.conf');
    writeFileSync(victim, 'root-only content\n', { mode: 0o644 });
    const file = path.join(d, 'journal.json');
    const me = await currentOwner();
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        owner: { ...me, pid: deadPid() },
        createdAt: 'x',
        changes: [
          { kind: 'dns', path: victim, original: 'planted\n', symlink: null, written: 'root-only content\n' },
        ],
      }),
      { mode: 0o600 },
    );
    chownSync(file, 65534, 65534);
    await expect(recoverStale(file, () => undefined)).rejects.toMatchObject({
      code: 'CORRIDOR_ERR_CONFIG',
      message: expect.stringContaining('belongs to another user'),
    });
    expect(readFileSync(victim, 'utf8')).toBe('root-only content\n');
    chownSync(file, 0, 0); // the same journal, written by root itself, is honoured
    expect((await recoverStale(file, () => undefined)).state).toBe('recovered');
    expect(readFileSync(victim, 'utf8')).toBe('planted\n');
  });
  if (!asRoot) console.warn('not root: skipping the journal ownership test (needs chown)');
});

describe('control socket', () => {
  it('is 0600, answers status and disconnect, refuses garbage, and reports "not running" after close', async () => {
    const d = tmp();
    const sock = path.join(d, 'run', 'vpnctl.sock');
    let disconnected = 0;
    const server = await ControlServer.listen(sock, {
      status: () => ({ state: 'connected', n: 1 }),
      disconnect: () => disconnected++,
    });
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(sock)).mode & 0o777).toBe(0o700);
    expect(await controlRequest(sock, { command: 'status' })).toEqual({ state: 'connected', n: 1 });
    expect(await controlRequest(sock, { command: 'disconnect' })).toEqual({ ok: true });
    expect(disconnected).toBe(1);
    const garbage = await new Promise<string>((resolve) => {
      const s = net.connect(sock, () => s.write('{nope\n'));
      let out = '';
      s.on('data', (c) => (out += c.toString()));
      s.on('end', () => resolve(out));
    });
    expect(JSON.parse(garbage)).toEqual({ error: 'unknown command' });
    // A second connection on the same socket is refused as "already running".
    await expect(
      ControlServer.listen(sock, { status: () => ({}), disconnect: () => undefined }),
    ).rejects.toMatchObject({
      code: 'CORRIDOR_ERR_ALREADY_CONNECTED',
    });
    await server.close();
    expect(await controlRequest(sock, { command: 'status' })).toBeUndefined();
  });

  it('a stale socket file from a crash is replaced', async () => {
    const d = tmp();
    const sock = path.join(d, 'vpnctl.sock');
    writeFileSync(sock, '');
    const server = await ControlServer.listen(sock, {
      status: () => ({ ok: 1 }),
      disconnect: () => undefined,
    });
    expect(await controlRequest(sock, { command: 'status' })).toEqual({ ok: 1 });
    await server.close();
  });
});

describe('kill-switch script', () => {
  it('allows loopback, the tunnel and the listed peers; drops the rest', () => {
    const s = killSwitchScript('corridor_vpnctl', {
      tun: 'corridor0',
      allow: [
        { address: '203.0.113.5', protocol: 'udp', port: 51820 },
        { address: '2001:db8::5', protocol: 'tcp', port: 443 },
      ],
    });
    expect(s).toContain('policy drop;');
    expect(s).toContain('oifname "corridor0" accept');
    expect(s).toContain('ip daddr 203.0.113.5 udp dport 51820 accept');
    expect(s).toContain('ip6 daddr 2001:db8::5 tcp dport 443 accept');
    // Replaced atomically: create-if-missing, delete, define, in one transaction.
    expect(s.indexOf('delete table inet corridor_vpnctl')).toBeLessThan(
      s.indexOf('table inet corridor_vpnctl {\n'),
    );
  });

  it('refuses values that are not what they claim to be', () => {
    expect(() => killSwitchScript('t', { tun: 'x" accept; #', allow: [] })).toThrow(RangeError);
    expect(() =>
      killSwitchScript('t', {
        tun: 'tun0',
        allow: [{ address: '1.2.3.4 accept', protocol: 'udp', port: 1 }],
      }),
    ).toThrow(RangeError);
    expect(() =>
      killSwitchScript('t', { tun: 'tun0', allow: [{ address: '1.2.3.4', protocol: 'udp', port: 70000 }] }),
    ).toThrow(RangeError);
  });
});
