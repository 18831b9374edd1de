/**
 * The agent's data directory (mode 0700; every file 0600, written atomically via rename):
 *   node-key.json     the node's X25519 static private key (created once; never logged)
 *   credential.json   node id + controller credential from enrollment
 *   signing-keys.json cached controller ticket-signing keys (offline admission)
 *   revocations.json  cached revocation set + cursor (offline admission)
 *   kernel-state.json what the kernel setup created (cleanup after a crash)
 *   agent.lock        pid and start time of the agent using the directory (one agent per directory:
 *                     a second one's crash recovery would tear down the running one's kernel setup)
 */
import {
  chmodSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import {
  generateX25519KeyPair,
  x25519PrivateKeyFromBytes,
  x25519PublicFromPrivate,
  type X25519KeyPair,
} from '@corridor/protocol';

/** A process's start time (clock ticks since boot, /proc/<pid>/stat field 22), or null when it is gone. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

export type LockResult = { ok: true; release: () => void } | { ok: false; pid: number };

export class StateStore {
  constructor(readonly dir: string) {}

  /**
   * Creates the directory 0700, and tightens an existing one and every file in it to 0700 / 0600 (a
   * node key or credential copied in or restored from a backup keeps the mode it came with).
   * Throws with the path on failure.
   */
  ensure(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if ((statSync(this.dir).mode & 0o077) !== 0) chmodSync(this.dir, 0o700);
    for (const e of readdirSync(this.dir, { withFileTypes: true })) {
      if (!e.isFile()) continue;
      const f = this.file(e.name);
      if ((statSync(f).mode & 0o077) !== 0) chmodSync(f, 0o600);
    }
  }

  /**
   * Claims the directory for this process (`agent.lock`, created exclusively). A lock whose process is
   * gone (kill -9) or whose pid now names another process (start time differs) is stale and taken
   * over; a live holder is returned as `{ ok: false, pid }`. `release()` removes the lock if it is
   * still ours. Call after `ensure()`.
   */
  lock(): LockResult {
    const file = this.file('agent.lock');
    const me = `${process.pid} ${processStart(process.pid) ?? ''}`;
    const release = (): void => {
      try {
        if (readFileSync(file, 'utf8') === me) rmSync(file, { force: true });
      } catch {
        // already gone
      }
    };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(file, me, { flag: 'wx', mode: 0o600 });
        return { ok: true, release };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let held: string;
      try {
        held = readFileSync(file, 'utf8');
      } catch {
        continue; // released meanwhile
      }
      const [pidText = '', start = ''] = held.split(' ');
      const pid = Number(pidText);
      const live = Number.isInteger(pid) && pid > 0 && pid !== process.pid && start !== '';
      if (live && processStart(pid) === start) return { ok: false, pid };
      rmSync(file, { force: true });
    }
    return { ok: false, pid: -1 };
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  readJson<T>(name: string): T | null {
    let text: string;
    try {
      text = readFileSync(this.file(name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      return null; // a torn or corrupt cache is treated as absent
    }
  }

  writeJson(name: string, value: unknown): void {
    const target = this.file(name);
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, target);
  }

  /** The node's static key pair, created on first use. */
  nodeKeys(): X25519KeyPair {
    const stored = this.readJson<{ privateKey: string }>('node-key.json');
    if (stored && typeof stored.privateKey === 'string') {
      const priv = x25519PrivateKeyFromBytes(Buffer.from(stored.privateKey, 'base64url'));
      if (priv.ok) return { privateKey: priv.value, publicKey: x25519PublicFromPrivate(priv.value) };
      throw new Error(
        `${this.file('node-key.json')} does not hold a valid X25519 private key (delete it to re-enroll with a new key)`,
      );
    }
    const keys = generateX25519KeyPair();
    this.writeJson('node-key.json', { privateKey: keys.privateKey.toString('base64url') });
    return keys;
  }
}
