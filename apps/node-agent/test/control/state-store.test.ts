// The data directory's permissions: the node key and the controller credential are secrets (0600).
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateX25519KeyPair } from '@corridor/protocol';
import { StateStore } from '../../src/control/state-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmpDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'corridor-state-'));
  dirs.push(d);
  return d;
}

const mode = (p: string) => statSync(p).mode & 0o777;

describe('StateStore', () => {
  it('creates the directory 0700 and the node key 0600', () => {
    const dir = path.join(tmpDir(), 'node');
    const store = new StateStore(dir);
    store.ensure();
    store.nodeKeys();
    expect(mode(dir)).toBe(0o700);
    expect(mode(store.file('node-key.json'))).toBe(0o600);
  });

  it('tightens a node key and credential left readable by others (e.g. restored from a backup)', () => {
    const dir = tmpDir();
    const store = new StateStore(dir);
    const keys = generateX25519KeyPair();
    writeFileSync(
      store.file('node-key.json'),
      JSON.stringify({ privateKey: keys.privateKey.toString('base64url') }),
    );
    writeFileSync(store.file('credential.json'), JSON.stringify({ nodeId: 'n-1', credential: 'secret' }));
    chmodSync(store.file('node-key.json'), 0o644);
    chmodSync(store.file('credential.json'), 0o644);
    chmodSync(dir, 0o755);
    store.ensure();
    expect(store.nodeKeys().publicKey.equals(keys.publicKey)).toBe(true);
    expect(mode(dir)).toBe(0o700);
    expect(mode(store.file('node-key.json'))).toBe(0o600);
    expect(mode(store.file('credential.json'))).toBe(0o600);
  });

  it('one agent per directory: a live holder is refused, a dead one’s or a reused pid’s lock taken over', async () => {
    const dir = tmpDir();
    const store = new StateStore(dir);
    store.ensure();
    const lockFile = store.file('agent.lock');
    // A live process holds it (its pid and start time, as its own lock() wrote them).
    const holder = spawn('sleep', ['30']);
    let start = '';
    try {
      await new Promise((r) => holder.once('spawn', r));
      const stat = readFileSync(`/proc/${holder.pid}/stat`, 'utf8');
      start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
      writeFileSync(lockFile, `${holder.pid} ${start}`);
      expect(store.lock()).toEqual({ ok: false, pid: holder.pid });
      // The same pid with another start time: the pid was reused after the holder died.
      writeFileSync(lockFile, `${holder.pid} 1`);
      const taken = store.lock();
      expect(taken.ok).toBe(true);
      expect(mode(lockFile)).toBe(0o600);
      if (taken.ok) taken.release();
      expect(existsSync(lockFile)).toBe(false);
    } finally {
      holder.kill();
    }
    // The holder is gone (kill -9 of an agent): its lock is stale.
    if (holder.exitCode === null && holder.signalCode === null)
      await new Promise((r) => holder.once('exit', r));
    writeFileSync(lockFile, `${holder.pid} ${start}`);
    expect(store.lock().ok).toBe(true);
  });
});
