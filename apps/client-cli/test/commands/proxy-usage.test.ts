/**
 * `vpnctl proxy` argument and environment checks, and the failures a user meets before any tunnel
 * exists: each a clear CORRIDOR_ERR_* code with a hint.
 */
import { existsSync } from 'node:fs';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, runProcess, tempHome } from '../helpers/cli.js';

const home = tempHome();
const env = home.env;
afterAll(() => home.remove());

describe('vpnctl proxy: usage', () => {
  it.each([
    [['proxy'], 'missing <node>'],
    [['proxy', 'Not A Node'], "'Not A Node' is not a node id"],
    [['proxy', 'fra-1', '--region', 'eu'], "--region only applies to 'vpnctl proxy auto'"],
    [['proxy', 'auto', '--socks', 'localhost:1080'], "'localhost' is not a numeric address"],
    [['proxy', 'auto', '--socks', '127.0.0.1:99999'], 'is not HOST:PORT'],
    [['proxy', 'auto', '--http', 'nonsense'], 'is not HOST:PORT'],
    [['proxy', 'auto', '--socks', 'off', '--http', 'off'], 'leave nothing to run'],
    [['proxy', 'auto', '--transport', 'quic'], '--transport must be one of udp, tcp, auto'],
  ])('%j -> exit 2: %s', async (argv, message) => {
    const r = await runCli(argv, { env });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('Usage:');
  });

  it('refuses a non-loopback address without --allow-remote, and --allow-remote without credentials', async () => {
    const a = await runCli(['proxy', 'auto', '--socks', '0.0.0.0:1080', '--json'], { env });
    expect(a.code).toBe(1);
    expect(JSON.parse(a.stdout).error).toMatchObject({
      code: 'CORRIDOR_ERR_PROXY_INSECURE',
      hint: expect.stringContaining('--allow-remote together with --user'),
    });
    const b = await runCli(['proxy', 'auto', '--http', '0.0.0.0:3128', '--allow-remote', '--json'], { env });
    expect(JSON.parse(b.stdout).error).toMatchObject({ code: 'CORRIDOR_ERR_PROXY_INSECURE' });
    const c = await runCli(['proxy', 'auto', '--user', 'me', '--json'], { env });
    expect(JSON.parse(c.stdout).error).toMatchObject({
      code: 'CORRIDOR_ERR_INPUT',
      hint: expect.stringContaining('CORRIDOR_PROXY_PASSWORD'),
    });
  });

  it('a port in use: CORRIDOR_ERR_PROXY_LISTEN naming the address and the fix, before asking the controller', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCli(['proxy', 'auto', '--socks', `127.0.0.1:${port}`, '--json'], { env });
      expect(r.code).toBe(1);
      const e = JSON.parse(r.stdout).error;
      expect(e.code).toBe('CORRIDOR_ERR_PROXY_LISTEN');
      expect(e.message).toBe(`the SOCKS5 proxy cannot listen on 127.0.0.1:${port}: the port is in use`);
      expect(e.hint).toContain('--socks 127.0.0.1:PORT');
    } finally {
      blocker.close();
    }
  });

  it('not logged in: CORRIDOR_ERR_NOT_LOGGED_IN, and the listeners it opened are closed again', async () => {
    const r = await runCli(['proxy', 'auto', '--socks', '127.0.0.1:0', '--json'], { env });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('CORRIDOR_ERR_NOT_LOGGED_IN');
  });

  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  it.skipIf(process.getuid?.() !== 0 || !setpriv)(
    'an unprivileged user without a home: names the directory and the XDG variables, no stack trace',
    async () => {
      const r = await runProcess(['proxy', 'auto', '--socks', '127.0.0.1:0'], {
        env: {
          HOME: '/nonexistent',
          XDG_CONFIG_HOME: '',
          XDG_STATE_HOME: '',
          XDG_RUNTIME_DIR: '/run/user/0',
        },
        prefix: [setpriv!, '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'],
      });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/vpnctl: cannot use \/(nonexistent|run\/user\/0)\S* \(EACCES\)/);
      expect(r.stderr).toContain('hint: vpnctl keeps its files under $XDG_CONFIG_HOME');
      expect(r.stderr).not.toContain('This is a bug');
    },
  );
});
