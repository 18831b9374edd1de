/**
 * vpnctl's lock files under real concurrency: several processes race for the connection lock and the
 * credentials lock (fresh, and with a stale lock of a dead process in place). Whoever holds a lock
 * must hold it alone — two `vpnctl connect`s would fight over routes and DNS, two refreshes with the
 * same refresh token make the controller revoke the login.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_DIR, TSX } from '../helpers/cli.js';

const HOLDER = path.join(CLI_DIR, 'test/fixtures/lock-holder.ts');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Held {
  ok: boolean;
  t0?: number;
  t1?: number;
  message?: string;
}

function holder(kind: string, file: string, holdMs: number): Promise<Held> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', TSX, '--conditions=source', HOLDER, kind, file, String(holdMs)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(out.trim()) as Held);
      } catch {
        reject(new Error(`lock holder printed ${JSON.stringify(out)}`));
      }
    });
  });
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(r.stdout);
}

function overlaps(held: Held[]): number {
  const iv = held.filter((h) => h.ok).sort((a, b) => a.t0! - b.t0!);
  let n = 0;
  for (let i = 1; i < iv.length; i++) if (iv[i]!.t0! < iv[i - 1]!.t1!) n++;
  return n;
}

async function race(kind: 'connection' | 'credentials', stale: string | null, n = 6, holdMs = 300) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vpnctl-lock-'));
  dirs.push(dir);
  const file = path.join(dir, kind === 'connection' ? 'connection.pid' : 'credentials.lock');
  if (stale !== null) writeFileSync(file, stale, { mode: 0o600 });
  const held = await Promise.all(Array.from({ length: n }, () => holder(kind, file, holdMs)));
  return { held, left: readdirSync(dir) };
}

describe('lock files under concurrent processes', () => {
  it('the connection lock has exactly one holder at a time, also when breaking a dead owner’s lock', async () => {
    for (const stale of [`${deadPid()}`, `${deadPid()} 1 abcdef`]) {
      const { held, left } = await race('connection', stale);
      const winners = held.filter((h) => h.ok);
      expect(winners.length, `stale=${stale}: ${JSON.stringify(held)}`).toBeGreaterThanOrEqual(1);
      expect(overlaps(held), `stale=${stale}: ${JSON.stringify(held)}`).toBe(0);
      for (const h of held.filter((x) => !x.ok)) expect(h.message).toMatch(/already running \(pid \d+\)/);
      expect(left).toEqual([]); // released, no temporary files left
    }
  }, 120_000);

  it('the credentials lock serialises every process, also when breaking a dead owner’s lock', async () => {
    for (const stale of [`${deadPid()}`]) {
      const { held, left } = await race('credentials', stale, 5, 150);
      expect(
        held.every((h) => h.ok),
        JSON.stringify(held),
      ).toBe(true);
      expect(overlaps(held), JSON.stringify(held)).toBe(0);
      expect(left).toEqual([]);
    }
  }, 120_000);
});
