/**
 * The README's quick-start main job, run as a user runs it: the demo script starts the real
 * controller process (built `apps/controller/dist`) on embedded defaults and drives the whole flow.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const controllerCli = path.join(root, 'apps/controller/dist/cli.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'corridor-demo-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('quick-start demo', () => {
  it('runs controller, enrollment, ticket and the encrypted tunnel end to end', () => {
    if (!existsSync(controllerCli)) {
      throw new Error(`${controllerCli} is missing: run 'pnpm build' first (scripts/test.sh does)`);
    }
    const run = spawnSync(
      process.execPath,
      [path.join(root, 'node_modules/tsx/dist/cli.mjs'), '--conditions=source', 'scripts/demo.ts'],
      { cwd: root, env: { ...process.env, CORRIDOR_DEMO_DIR: dir }, encoding: 'utf8', timeout: 100_000 },
    );
    const out = run.stdout + run.stderr;
    expect(run.status, out).toBe(0);
    expect(out).toContain('sha256 Fingerprint=');
    expect(out).toContain('nodes in eu-central: demo-1 (online)');
    expect(out).toContain('"echo: hello", "echo: from", "echo: corridor"');
    expect(out).toContain('node drops: none');
    expect(out).toMatch(/admin sees 1 active session\(s\): .*"rxBytes":\d+/);
    expect(out).toContain('Corridor demo: OK');
    // Credentials the demo writes are private to the user.
    expect(statSync(path.join(dir, 'admin-password')).mode & 0o077).toBe(0);
    expect(statSync(path.join(dir, 'controller', 'tls-key.pem')).mode & 0o077).toBe(0);
    // The generated admin password never reaches the output.
    expect(out).not.toMatch(/password"?\s*[:=]\s*"?[A-Za-z0-9_-]{24}/);
  });
});
