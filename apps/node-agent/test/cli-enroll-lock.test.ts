// `corridor-node enroll` on the data directory of a running agent must refuse before touching the
// controller or the credential (re-enrolling would replace the credential the running agent uses).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/main.ts');

describe('corridor-node enroll', () => {
  it('refuses while an agent holds the data directory, naming it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'corridor-enroll-'));
    const holder = spawn('sleep', ['30']);
    try {
      await new Promise((r) => holder.once('spawn', r));
      const stat = readFileSync(`/proc/${holder.pid}/stat`, 'utf8');
      const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      writeFileSync(path.join(dir, 'agent.lock'), `${holder.pid} ${start}`, { mode: 0o600 });
      writeFileSync(path.join(dir, 'credential.json'), JSON.stringify({ nodeId: 'n-1', credential: 'live' }));
      const r = spawnSync(
        process.execPath,
        [
          '--conditions=source',
          '--import',
          'tsx',
          MAIN,
          'enroll',
          '--controller-url',
          'https://127.0.0.1:1',
          '--node-id',
          'n-1',
          '--enrollment-token',
          'A'.repeat(32),
          '--data-dir',
          dir,
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(`already running.*pid ${holder.pid}|pid ${holder.pid}.*already running`),
      );
      expect(JSON.parse(readFileSync(path.join(dir, 'credential.json'), 'utf8'))).toEqual({
        nodeId: 'n-1',
        credential: 'live',
      });
    } finally {
      holder.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
