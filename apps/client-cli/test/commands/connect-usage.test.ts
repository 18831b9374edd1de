/**
 * `vpnctl connect` argument checking (before anything touches the system or the controller), and
 * the privilege check as an unprivileged user (real process under setpriv, as user nobody).
 */
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runProcess, tempHome } from '../helpers/cli.js';

const env = tempHome().env;

describe('vpnctl connect: usage', () => {
  it.each([
    [['connect'], 'missing <node>'],
    [['connect', 'Not A Node'], "'Not A Node' is not a node id"],
    [['connect', 'fra-1', '--region', 'eu-central'], "--region only applies to 'vpnctl connect auto'"],
    [['connect', 'auto', '--region', 'EU'], '--region must be a region slug'],
    [['connect', 'auto', '--transport', 'quic'], '--transport must be one of udp, tcp, tls, wss, auto'],
    [['connect', 'auto', '--transport', 'tls'], 'needs the node certificate'],
    [
      ['connect', 'auto', '--transport', 'wss', '--tls-pin', 'nope'],
      '--tls-pin must be a SHA-256 fingerprint',
    ],
    [['connect', 'auto', '--proxy', 'socks5://p:1080'], '--proxy must be http://host:port'],
    [['connect', 'auto', '--proxy', 'http://user:pw@p:3128'], '--proxy must be http://host:port'],
    [['connect', 'auto', '--tls-port', '70000'], '--tls-port must be a port number'],
    [['connect', 'auto', '--wss-path', 'ws'], '--wss-path must be an absolute path'],
    [['connect', 'auto', '--sni', 'bad name'], '--sni must be a DNS name'],
    [['connect', 'auto', '--padding', 'lots'], '--padding must be one of off, buckets'],
    [['connect', 'auto', '--split', '10.1.2.3/8'], 'has host bits set; did you mean 10.0.0.0/8?'],
    [['connect', 'auto', '--split', 'nonsense'], "'nonsense' is not a CIDR"],
    [['connect', 'auto', '--split', '0.0.0.0/0'], 'would route everything'],
    [['connect', 'auto', '--kill-switch=yes'], "option '--kill-switch' does not take a value"],
    // The same prefix twice made `ip route add` fail with "a route already exists (another VPN?)".
    [
      ['connect', 'auto', '--split', '10.0.0.0/8', '--split', '10.0.0.0/08'],
      '--split 10.0.0.0/8 is given twice',
    ],
    // Root rewrites this file (and truncates it): only ever a resolv.conf, never /etc/shadow & co.
    [
      ['connect', 'auto', '--resolv-conf', '/etc/shadow'],
      '--resolv-conf must be the absolute path of a file named resolv.conf',
    ],
    [
      ['connect', 'auto', '--resolv-conf', 'resolv.conf'],
      '--resolv-conf must be the absolute path of a file named resolv.conf',
    ],
  ])('%j -> exit 2: %s', async (argv, message) => {
    const r = await runCli(argv, { env });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('Usage:');
  });

  it('CORRIDOR_RESOLV_CONF is held to the same rule as --resolv-conf', async () => {
    const r = await runCli(['connect', 'auto'], {
      env: { ...env, CORRIDOR_RESOLV_CONF: '/etc/sudoers.d/x' },
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('CORRIDOR_RESOLV_CONF must be the absolute path of a file named resolv.conf');
  });

  it('not logged in: exit 1 with the fix', async () => {
    const r = await runCli(['connect', 'auto', '--json'], { env });
    if (process.getuid?.() !== 0) {
      expect(JSON.parse(r.stdout).error.code).toBe('CORRIDOR_ERR_NOT_PERMITTED');
      return;
    }
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('CORRIDOR_ERR_NOT_LOGGED_IN');
  });

  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  it.skipIf(process.getuid?.() !== 0 || !setpriv)(
    'without root / CAP_NET_ADMIN: says so and how to fix it',
    async () => {
      const home = tempHome();
      const r = await runProcess(['connect', 'auto'], {
        env: { ...home.env, HOME: '/nonexistent' },
        prefix: [setpriv!, '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'],
      });
      home.remove();
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('vpnctl connect needs root (CAP_NET_ADMIN)');
      expect(r.stderr).toMatch(/hint: run it with sudo/);
    },
  );

  // The background connection's log is opened by root in the state dir, which under `sudo -E` is
  // the user's: a symbolic link planted there must not make root create or append to its target
  // (/etc/cron.d/x would run whatever the log line carries, e.g. a city name from the controller).
  it.skipIf(process.getuid?.() !== 0)(
    '--detach never follows a symbolic link planted as its log file',
    async () => {
      const home = tempHome();
      try {
        const state = path.join(home.env.XDG_STATE_HOME!, 'corridor');
        mkdirSync(state, { recursive: true, mode: 0o700 });
        const target = path.join(home.dir, 'planted-target');
        symlinkSync(target, path.join(state, 'vpnctl.log'));
        const r = await runProcess(['connect', 'auto', '--detach'], { env: home.env });
        expect(r.code, r.stderr).toBe(1);
        expect(existsSync(target)).toBe(false);
        expect(r.stderr).toContain('vpnctl.log is a symbolic link');
      } finally {
        home.remove();
      }
    },
    60_000,
  );
});
