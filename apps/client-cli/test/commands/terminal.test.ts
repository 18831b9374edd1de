/**
 * The real vpnctl process, in a pseudo-terminal (python3's pty, driven by test/helpers/pty-driver.py)
 * and without one: prompts, no echo of the password, exit codes, --json on stdout, no stack traces
 * unless --debug.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/config/paths.js';
import { CLI_DIR, runProcess, tempHome, VPNCTL_ARGV } from '../helpers/cli.js';
import { servicesSkipReason, startController, type Controller } from '../helpers/controller.js';

const PTY_DRIVER = path.join(CLI_DIR, 'test/helpers/pty-driver.py');
const python = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p));
const skipReason =
  servicesSkipReason ?? (python ? undefined : 'python3 is missing: the terminal tests drive a pty with it');
if (skipReason) console.warn(skipReason);

type Step = { expect: string } | { send: string };

function inPty(
  argv: string[],
  script: Step[],
  env: Record<string, string>,
): Promise<{ code: number; screen: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(python!, [PTY_DRIVER, JSON.stringify(script), ...VPNCTL_ARGV, ...argv], {
      env: { PATH: process.env.PATH ?? '', TERM: 'xterm', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.on('data', (c: Buffer) => (screen += c.toString()));
    child.stderr.on('data', (c: Buffer) => (screen += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, screen }));
  });
}

describe.skipIf(skipReason !== undefined)('vpnctl in a terminal and in pipes', () => {
  let ctl: Controller;
  const homes: ReturnType<typeof tempHome>[] = [];
  const home = () => {
    const h = tempHome();
    homes.push(h);
    return h;
  };
  beforeAll(async () => {
    ctl = await startController();
  });
  afterAll(async () => {
    await ctl?.stop();
    for (const h of homes) h.remove();
  });

  it('login on a terminal: prompts, shows the certificate for confirmation, never echoes the password', async () => {
    const h = home();
    const user = await ctl.createUser();
    const r = await inPty(
      ['login', '--server', ctl.url, '--pin', ctl.fingerprint256],
      [
        { expect: 'Trust this controller? [y/N] ' },
        { send: 'y\r' },
        { expect: 'E-mail: ' },
        { send: `${user.email}\r` },
        { expect: 'Password: ' },
        { send: `${user.password}\r` },
        { expect: 'Logged in to' },
      ],
      h.env,
    );
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toContain(`SHA-256      ${ctl.fingerprint256}`);
    expect(r.screen).toContain('It matches the fingerprint you pinned.');
    expect(r.screen).toContain(user.email); // echoed: it is not secret
    expect(r.screen).not.toContain(user.password);
    expect(r.screen).toContain(`Logged in to ${ctl.url} as ${user.email}.`);
    const creds = JSON.parse(readFileSync(resolvePaths(h.env).credentialsFile, 'utf8'));
    expect(creds.user.email).toBe(user.email);

    const who = await inPty(['whoami'], [], h.env);
    expect(who.code).toBe(0);
    expect(who.screen).toContain(user.email);
  });

  it('Ctrl-C at the password prompt cancels without saving anything', async () => {
    const h = home();
    const r = await inPty(
      ['login', '--server', ctl.url, '--pin', ctl.fingerprint256, '--yes', '--email', 'a@example.com'],
      [{ expect: 'Password: ' }, { send: 'half-typed\u0003' }],
      h.env,
    );
    expect(r.code).toBe(1);
    expect(r.screen).toContain('vpnctl: cancelled');
    expect(r.screen).not.toContain('half-typed');
    expect(existsSync(resolvePaths(h.env).configFile)).toBe(false);
  });

  it('without a terminal: data on stdout, messages on stderr, exit codes 0/1/2, JSON errors, stacks only with --debug', async () => {
    const h = home();
    const user = await ctl.createUser();
    const login = await runProcess(
      ['login', '--server', ctl.url, '--pin', ctl.fingerprint256, '--email', user.email, '--password-stdin'],
      { env: h.env, stdin: user.password },
    );
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toBe('');
    expect(login.stderr).toContain('Logged in');

    const nodes = await runProcess(['nodes', '--json'], { env: h.env });
    expect(nodes.code, nodes.stderr).toBe(0);
    expect(JSON.parse(nodes.stdout)).toHaveProperty('nodes');
    expect(nodes.stderr).toBe('');

    const usage = await runProcess(['nodes', '--regio', 'x'], { env: h.env });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('Usage:');

    const fail = await runProcess(['devices', 'remove', 'no-such-device', '--yes', '--json'], { env: h.env });
    expect(fail.code).toBe(1);
    expect(JSON.parse(fail.stdout)).toEqual({
      error: {
        code: 'CORRIDOR_ERR_INPUT',
        message: "no device matches 'no-such-device'",
        hint: expect.any(String),
      },
    });
    expect(fail.stderr).not.toMatch(/\n\s+at /);

    const refused = await runProcess(
      [
        'login',
        '--server',
        'https://127.0.0.1:1',
        '--pin',
        ctl.fingerprint256,
        '--email',
        'a@example.com',
        '--password-stdin',
      ],
      {
        env: h.env,
        stdin: 'x',
      },
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    const debug = await runProcess(
      [
        'login',
        '--server',
        'https://127.0.0.1:1',
        '--pin',
        ctl.fingerprint256,
        '--email',
        'a@example.com',
        '--password-stdin',
        '--debug',
      ],
      {
        env: h.env,
        stdin: 'x',
      },
    );
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/cause: .*ECONNREFUSED[\s\S]*\n\s+at /);
  }, 120_000); // spawns several CLI processes: slow on a loaded machine, not a speed test
});
