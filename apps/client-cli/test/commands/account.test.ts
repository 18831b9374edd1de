/**
 * login / logout / whoami / devices / nodes against a real controller process (PostgreSQL + Redis,
 * HTTPS with its self-signed certificate), run in-process through `main` with captured streams.
 */
import { statSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPublicKey, generateX25519KeyPair } from '@corridor/protocol';
import { ApiClient } from '../../src/api/client.js';
import { resolvePaths } from '../../src/config/paths.js';
import { ConfigStore } from '../../src/config/store.js';
import { runCli, scriptedPrompter, tempHome } from '../helpers/cli.js';
import { freePort, servicesSkipReason, startController, type Controller } from '../helpers/controller.js';

if (servicesSkipReason) console.warn(servicesSkipReason);

describe.skipIf(servicesSkipReason !== undefined)('vpnctl account commands against a real controller', () => {
  let ctl: Controller;
  const homes: ReturnType<typeof tempHome>[] = [];
  const home = () => {
    const h = tempHome();
    homes.push(h);
    return h;
  };

  beforeAll(async () => {
    ctl = await startController({
      env: {
        // Shorter than vpnctl's refresh margin: every authenticated call refreshes (rotation tested).
        ACCESS_TOKEN_TTL_S: '30',
        LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '3',
        LOGIN_LOCKOUT_S: '600',
        DEVICE_LIMIT: '2',
      },
    });
  });
  afterAll(async () => {
    await ctl?.stop();
    for (const h of homes) h.remove();
  });

  async function loggedIn() {
    const h = home();
    const user = await ctl.createUser();
    const r = await runCli(
      ['login', '--server', ctl.url, '--pin', ctl.fingerprint256, '--email', user.email, '--password-stdin'],
      { env: h.env, stdin: `${user.password}\n` },
    );
    expect(r.code, r.stderr).toBe(0);
    return { h, user };
  }

  it('logs in with a pinned self-signed certificate and keeps tokens in 0600 files under 0700 dirs', async () => {
    const { h, user } = await loggedIn();
    const paths = resolvePaths(h.env);
    expect(statSync(paths.configDir).mode & 0o777).toBe(0o700);
    for (const f of [paths.configFile, paths.credentialsFile]) expect(statSync(f).mode & 0o777).toBe(0o600);
    const creds = JSON.parse(readFileSync(paths.credentialsFile, 'utf8'));
    expect(creds.user.email).toBe(user.email);
    expect(creds.refreshToken).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    // The password is never stored anywhere.
    for (const f of [paths.configFile, paths.credentialsFile])
      expect(readFileSync(f, 'utf8')).not.toContain(user.password);
    const config = JSON.parse(readFileSync(paths.configFile, 'utf8'));
    expect(config.trust).toMatchObject({ mode: 'pin', fingerprint256: ctl.fingerprint256 });

    const who = await runCli(['whoami'], { env: h.env });
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toContain(user.email);
    expect(who.stdout).toContain(`pinned certificate SHA-256 ${ctl.fingerprint256}`);
    const json = await runCli(['whoami', '--json'], { env: h.env });
    expect(JSON.parse(json.stdout)).toMatchObject({
      server: ctl.url,
      user: { id: user.id, email: user.email, role: 'user' },
      trust: { mode: 'pin', fingerprint256: ctl.fingerprint256 },
      device: null,
    });
  });

  it('login --json prints the account; the pin may be given in any common spelling', async () => {
    const h = home();
    const user = await ctl.createUser();
    const pin = `sha256 Fingerprint=${ctl.fingerprint256.replace(/:/g, '').toLowerCase()}`;
    const r = await runCli(
      ['login', '--server', ctl.url, '--pin', pin, '--email', user.email, '--password-stdin', '--json'],
      {
        env: h.env,
        stdin: user.password,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      server: ctl.url,
      user: { id: user.id, email: user.email, role: 'user' },
      trust: { mode: 'pin', fingerprint256: ctl.fingerprint256 },
    });
  });

  it('refuses a self-signed controller without --pin or --ca, and says how to trust it', async () => {
    const h = home();
    const user = await ctl.createUser();
    const r = await runCli(
      ['login', '--server', ctl.url, '--email', user.email, '--password-stdin', '--json'],
      {
        env: h.env,
        stdin: user.password,
      },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/certificate is not trusted \(self-signed\)/);
    expect(r.stderr).toMatch(/hint: .*--pin/);
    expect(JSON.parse(r.stdout).error.code).toBe('CORRIDOR_ERR_TLS_UNTRUSTED');
    expect(await new ConfigStore(resolvePaths(h.env)).readCredentials()).toBeUndefined();
  });

  it('refuses a pin that does not match, naming both fingerprints', async () => {
    const h = home();
    const wrong = 'AB:'.repeat(31) + 'AB';
    const r = await runCli(
      ['login', '--server', ctl.url, '--pin', wrong, '--email', 'x@example.com', '--password-stdin'],
      {
        env: h.env,
        stdin: 'whatever',
      },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('certificate mismatch');
    expect(r.stderr).toContain(ctl.fingerprint256);
    expect(r.stderr).toContain(wrong);
  });

  it('detects a changed certificate on a later call (pinned connection, not only at login)', async () => {
    const { h } = await loggedIn();
    const paths = resolvePaths(h.env);
    const config = JSON.parse(readFileSync(paths.configFile, 'utf8'));
    config.trust.fingerprint256 = 'CD:'.repeat(31) + 'CD';
    writeFileSync(paths.configFile, JSON.stringify(config));
    const r = await runCli(['nodes', '--json'], { env: h.env });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({
      code: 'CORRIDOR_ERR_TLS_CERT_MISMATCH',
      presented: ctl.fingerprint256,
    });
  });

  it('trusts the controller through --ca FILE', async () => {
    const h = home();
    const user = await ctl.createUser();
    const r = await runCli(
      ['login', '--server', ctl.url, '--ca', ctl.certFile, '--email', user.email, '--password-stdin'],
      {
        env: h.env,
        stdin: user.password,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const nodes = await runCli(['nodes'], { env: h.env });
    expect(nodes.code, nodes.stderr).toBe(0);
  });

  it('says "wrong e-mail or password", then "locked out" with the retry time', async () => {
    const h = home();
    const user = await ctl.createUser();
    const attempt = () =>
      runCli(
        [
          'login',
          '--server',
          ctl.url,
          '--pin',
          ctl.fingerprint256,
          '--email',
          user.email,
          '--password-stdin',
          '--json',
        ],
        {
          env: h.env,
          stdin: 'not-the-password',
        },
      );
    const first = await attempt();
    expect(first.code).toBe(1);
    expect(first.stderr).toContain('wrong e-mail or password');
    expect(JSON.parse(first.stdout).error.code).toBe('CORRIDOR_ERR_INVALID_CREDENTIALS');
    await attempt();
    await attempt();
    const locked = await attempt();
    expect(locked.code).toBe(1);
    expect(locked.stderr).toMatch(
      /locked out after too many login attempts: try again in 1[0-9] minutes \(at /,
    );
    const err = JSON.parse(locked.stdout).error;
    expect(err.code).toBe('CORRIDOR_ERR_RATE_LIMITED');
    expect(err.retryAfterSeconds).toBeGreaterThan(500);
    expect(err.retryAfterSeconds).toBeLessThanOrEqual(600);
  });

  it('explains an unreachable controller', async () => {
    const h = home();
    const port = await freePort();
    const r = await runCli(
      [
        'login',
        '--server',
        `https://127.0.0.1:${port}`,
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
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `cannot reach the controller at https://127.0.0.1:${port}: connection refused`,
    );
    expect(r.stderr).toMatch(/hint: check that the controller is running/);
  });

  it('does not prompt when not on a terminal: names the flag to use instead', async () => {
    const h = home();
    const r = await runCli(
      ['login', '--server', ctl.url, '--pin', ctl.fingerprint256, '--email', 'a@example.com'],
      { env: h.env },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no password: vpnctl only prompts for it on a terminal');
    expect(r.stderr).toContain('--password-stdin');
  });

  it('usage errors print the help and exit 2', async () => {
    const h = home();
    const bad = await runCli(['login', '--pin', 'nonsense'], { env: h.env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--pin must be a SHA-256 fingerprint');
    expect(bad.stderr).toMatch(/Usage:\n {2}vpnctl login/);
    const both = await runCli(['login', '--pin', ctl.fingerprint256, '--ca', '/x'], { env: h.env });
    expect(both.code).toBe(2);
    const http = await runCli(['login', '--server', 'http://example.com'], { env: h.env });
    expect(http.code).toBe(2);
    expect(http.stderr).toContain('must use https://');
    const unknown = await runCli(['nodes', '--bogus'], { env: h.env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--bogus'");
  });

  it('commands need a login first', async () => {
    const h = home();
    for (const cmd of [['nodes'], ['whoami'], ['devices']]) {
      const r = await runCli([...cmd, '--json'], { env: h.env });
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout).error).toEqual({
        code: 'CORRIDOR_ERR_NOT_LOGGED_IN',
        message: 'you are not logged in',
        hint: expect.stringContaining('vpnctl login'),
      });
    }
  });

  it('interactive login (scripted prompter): asks URL, e-mail, password and confirms the new certificate', async () => {
    const h = home();
    const user = await ctl.createUser();
    const prompter = scriptedPrompter([user.email, user.password]);
    const r = await runCli(['login', '--server', ctl.url, '--pin', ctl.fingerprint256, '--yes'], {
      env: h.env,
      isTTY: true,
      prompter,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(prompter.questions).toEqual(['E-mail: ', 'Password: ']);

    const h2 = home();
    const declined = scriptedPrompter(['n']);
    const no = await runCli(['login', '--server', ctl.url, '--pin', ctl.fingerprint256], {
      env: h2.env,
      isTTY: true,
      prompter: declined,
    });
    expect(no.code).toBe(1);
    expect(no.stderr).toContain(`SHA-256      ${ctl.fingerprint256}`);
    expect(no.stderr).toContain('not trusted: nothing was saved');
    expect(await new ConfigStore(resolvePaths(h2.env)).readConfig()).toBeUndefined();
  });

  it('refreshes silently with rotating refresh tokens, also from concurrent processes', async () => {
    const { h } = await loggedIn();
    const paths = resolvePaths(h.env);
    const before = JSON.parse(readFileSync(paths.credentialsFile, 'utf8')).refreshToken;
    const r = await runCli(['nodes', '--json'], { env: h.env });
    expect(r.code, r.stderr).toBe(0);
    const after = JSON.parse(readFileSync(paths.credentialsFile, 'utf8')).refreshToken;
    expect(after).not.toBe(before);
    // The old refresh token is dead: presenting it is reuse (and would revoke the family).
    const reuse = await ctl.api.call<{ code: string }>('POST', '/v1/auth/refresh', { refreshToken: before });
    expect(reuse.status).toBe(401);
    // That reuse revoked the family, so log in again before the concurrency part.
    const { h: h2 } = await loggedIn();
    const results = await Promise.all(
      Array.from({ length: 6 }, () => runCli(['whoami', '--json'], { env: h2.env })),
    );
    for (const x of results) expect(x.code, x.stderr).toBe(0);
    const again = await runCli(['nodes', '--json'], { env: h2.env });
    expect(again.code, again.stderr).toBe(0);
  });

  it('a revoked login asks to log in again and forgets the dead tokens', async () => {
    const { h } = await loggedIn();
    const paths = resolvePaths(h.env);
    const creds = JSON.parse(readFileSync(paths.credentialsFile, 'utf8'));
    await ctl.api.call('POST', '/v1/auth/logout', { refreshToken: creds.refreshToken });
    const r = await runCli(['nodes', '--json'], { env: h.env });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('CORRIDOR_ERR_SESSION_EXPIRED');
    expect(r.stderr).toContain('vpnctl login');
  });

  it('logout revokes the refresh token at the controller and deletes it locally', async () => {
    const { h } = await loggedIn();
    const paths = resolvePaths(h.env);
    const creds = JSON.parse(readFileSync(paths.credentialsFile, 'utf8'));
    const r = await runCli(['logout'], { env: h.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Logged out of ${ctl.url}.`);
    expect(() => statSync(paths.credentialsFile)).toThrow();
    const dead = await ctl.api.call('POST', '/v1/auth/refresh', { refreshToken: creds.refreshToken });
    expect(dead.status).toBe(401);
    const again = await runCli(['logout'], { env: h.env });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('Not logged in.');
  });

  it('devices: list (this device marked), rename by prefix, remove with --yes; device limit explained', async () => {
    const { h } = await loggedIn();
    const store = new ConfigStore(resolvePaths(h.env));
    const api = new ApiClient(store, (await store.readConfig())!);
    const creds = (await store.readCredentials())!;
    const key = () => formatPublicKey('x25519pub', generateX25519KeyPair().publicKey);
    const mine = await api.registerDevice('laptop', key());
    await store.writeDevice({
      version: 1,
      server: ctl.url,
      userId: creds.user.id,
      id: mine.id,
      name: mine.name,
      publicKey: mine.publicKey,
    });
    const other = await api.registerDevice('old-phone', key());

    const list = await runCli(['devices', '--json'], { env: h.env });
    expect(list.code, list.stderr).toBe(0);
    const devices = JSON.parse(list.stdout).devices;
    expect(devices.map((d: { name: string; current: boolean }) => [d.name, d.current])).toEqual([
      ['laptop', true],
      ['old-phone', false],
    ]);
    const text = await runCli(['devices'], { env: h.env });
    expect(text.stdout).toMatch(/^ID\s+NAME\s+REGISTERED\s+LAST SEEN/);
    expect(text.stdout).toMatch(/laptop .*\(this device\)/);

    // A third device is over the limit (DEVICE_LIMIT=2): the error says what to do.
    await expect(api.registerDevice('tablet', key())).rejects.toMatchObject({
      code: 'CORRIDOR_ERR_DEVICE_LIMIT',
      hint: expect.stringContaining('vpnctl devices remove'),
    });

    const renamed = await runCli(['devices', 'rename', other.id.slice(0, 8), 'phone', '--json'], {
      env: h.env,
    });
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(JSON.parse(renamed.stdout).device).toMatchObject({ id: other.id, name: 'phone', current: false });

    const refused = await runCli(['devices', 'remove', 'phone'], { env: h.env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--yes');
    const removed = await runCli(['devices', 'remove', 'phone', '--yes'], { env: h.env });
    expect(removed.code, removed.stderr).toBe(0);
    const left = JSON.parse((await runCli(['devices', '--json'], { env: h.env })).stdout).devices;
    expect(left.map((d: { name: string }) => d.name)).toEqual(['laptop']);

    const missing = await runCli(['devices', 'remove', 'nothing-like-this', '--yes'], { env: h.env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no device matches 'nothing-like-this'");
    const usage = await runCli(['devices', 'explode'], { env: h.env });
    expect(usage.code).toBe(2);
  });

  it('nodes: sorted by usefulness (online, then load), filtered by region, as a table and JSON', async () => {
    const region = `r${Date.now().toString(36)}`;
    const busy = await ctl.createNode({ id: `${region}-busy`, region, load: 0.9 });
    const idle = await ctl.createNode({
      id: `${region}-idle`,
      region,
      load: 0.05,
      city: 'Paris',
      country: 'FR',
    });
    const off = await ctl.createNode({ id: `${region}-off`, region, online: false });
    await ctl.createNode({ id: `${region}x-other`, region: `${region}x` });
    const { h } = await loggedIn();
    const r = await runCli(['nodes', '--region', region, '--json'], { env: h.env });
    expect(r.code, r.stderr).toBe(0);
    const nodes = JSON.parse(r.stdout).nodes;
    expect(nodes.map((n: { id: string }) => n.id)).toEqual([idle.id, busy.id, off.id]);
    expect(nodes[0]).toEqual({
      id: idle.id,
      region,
      country: 'FR',
      city: 'Paris',
      online: true,
      load: 0.05,
      activeSessions: 0,
      endpoint: { host: '203.0.113.5', udpPort: 51820, tcpPort: 443 },
    });
    const text = await runCli(['nodes', '--region', region], { env: h.env });
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+REGION\s+LOCATION\s+STATUS\s+LOAD\s+SESSIONS$/);
    expect(lines[1]).toMatch(new RegExp(`^${idle.id}\\s+${region}\\s+Paris, FR\\s+online\\s+5%\\s+0$`));
    expect(lines[3]).toMatch(/offline\s+-\s+-$/);
    const empty = await runCli(['nodes', '--region', 'nowhere-at-all'], { env: h.env });
    expect(empty.code).toBe(0);
    expect(empty.stderr).toContain('No nodes in region nowhere-at-all');
    const bad = await runCli(['nodes', '--region', 'Bad Region'], { env: h.env });
    expect(bad.code).toBe(2);
    void path;
  });
});
