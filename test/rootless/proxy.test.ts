/**
 * `vpnctl proxy` end to end, rootless: the real controller, `corridor-node` and `vpnctl` processes on
 * the netns lab, with vpnctl (login, proxy, status, disconnect) and every client program (curl, the
 * SOCKS5 UDP client) running as the UNPRIVILEGED user nobody (setpriv, no capabilities) in the
 * client namespace. Nothing on the client host changes: no TUN, route, DNS or firewall.
 *
 *   client1 (nobody): curl -> vpnctl proxy (SOCKS5 :1080, HTTP :3128) -> userspace TCP/IP ->
 *     Noise tunnel (UDP) -> node-eu (kernel TUN + NAT, unchanged) -> web.lab / resolver.lab
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyConnectionStatus } from '../../apps/client-cli/src/proxy/proxy-status.js';
import {
  createLab,
  diffSnapshots,
  labSkipReason,
  snapshotRoot,
  type Lab,
  type LabHost,
  type RootSnapshot,
} from '../lab/index.js';
import {
  cleanupHarness,
  e2eSkipReason,
  ROOT,
  startController,
  startNode,
  systemState,
  vpnctlArgv,
  type ControllerHandle,
  type NodeHandle,
} from '../client-cli/harness.js';

const NOBODY = 65534;
const SETPRIV = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all'];
const TSX = path.join(ROOT, 'node_modules/tsx/dist/esm/index.mjs');
const fixture = (name: string, ...args: string[]) => [
  process.execPath,
  '--import',
  TSX,
  path.join(ROOT, 'test/rootless/fixtures', name),
  ...args,
];

function hasSetpriv(): boolean {
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip = e2eSkipReason(labSkipReason()) ?? (hasSetpriv() ? undefined : 'setpriv (util-linux) is missing');
if (skip) console.warn(`[rootless proxy e2e] skipping: ${skip}`);

async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe.skipIf(skip !== undefined)('vpnctl proxy as an unprivileged user (rootless)', () => {
  let lab: Lab;
  let ctl: ControllerHandle;
  let node: NodeHandle;
  let client: LabHost;
  let web: LabHost;
  let home: string;
  let env: Record<string, string>;
  let rootBefore: RootSnapshot;

  /** A command as nobody in the client namespace, with nobody's own XDG dirs. */
  const asNobody = (argv: string[], opts: { input?: string; timeoutMs?: number } = {}) =>
    client.exec([...SETPRIV, ...argv], {
      env: { ...process.env, ...env },
      input: opts.input ?? '',
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
  const vpnctl = (...args: string[]) => asNobody(vpnctlArgv(...args));
  const curl = async (...args: string[]) => {
    const r = await asNobody(['curl', '-sS', '--fail', '--max-time', '20', ...args], { timeoutMs: 30_000 });
    return { ok: r.code === 0, out: r.stdout.trim(), err: r.stderr };
  };
  const status = async () => JSON.parse((await vpnctl('status', '--json')).stdout) as ProxyConnectionStatus;

  beforeAll(async () => {
    rootBefore = await snapshotRoot();
    lab = await createLab({
      label: 'rootless/proxy.test',
      hosts: [
        { name: 'resolver', role: 'resolver' },
        { name: 'controller', role: 'controller' },
        { name: 'node-eu', role: 'node', region: 'eu' },
        { name: 'client1', role: 'client' },
        { name: 'web', role: 'web-echo' },
      ],
    });
    client = lab.host('client1');
    web = lab.host('web');
    ctl = await startController(lab.host('controller'));
    node = await startNode(ctl, lab.host('node-eu'), { dnsServers: [lab.host('resolver').v4] });
    // nobody has no home (/nonexistent): give it one it owns, and the XDG dirs in it.
    home = mkdtempSync(path.join(os.tmpdir(), 'vpnctl-rootless-'));
    chownSync(home, NOBODY, NOBODY);
    env = {
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, 'config'),
      XDG_STATE_HOME: path.join(home, 'state'),
      XDG_RUNTIME_DIR: path.join(home, 'run'),
      CORRIDOR_CONFIG_DIR: '',
      CORRIDOR_STATE_DIR: '',
      CORRIDOR_RUNTIME_DIR: '',
    };
    const user = await ctl.createUser();
    const login = await asNobody(
      vpnctlArgv(
        'login',
        '--server',
        ctl.url,
        '--pin',
        ctl.fingerprint256,
        '--email',
        user.email,
        '--password-stdin',
      ),
      { input: user.password },
    );
    if (login.code !== 0) throw new Error(`vpnctl login as nobody failed: ${login.stderr}`);
  }, 240_000);

  afterAll(async () => {
    await lab?.down();
    cleanupHarness();
    if (home) rmSync(home, { recursive: true, force: true });
    if (rootBefore) expect(diffSnapshots(rootBefore, await snapshotRoot())).toBe('');
  });

  async function startProxy(...extra: string[]) {
    const proc = client.spawn(
      [...SETPRIV, ...vpnctlArgv('proxy', node.id, '--transport', 'udp', ...extra, '--json')],
      {
        name: 'vpnctl-proxy',
        env: { ...process.env, ...env },
      },
    );
    const line = await proc.waitFor(/^\{"state":"connected"/, { timeoutMs: 60_000, stream: 'stdout' });
    return { proc, status: JSON.parse(line) as ProxyConnectionStatus };
  }

  it('SOCKS5 (names too) and HTTP CONNECT reach the web host, which sees the node; DNS via the pushed resolver; nothing on the host changes', async () => {
    const before = await systemState(client);
    expect((await curl(web.url('/'))).out).toBe(client.v4); // direct, before
    const { proc, status: s } = await startProxy('--socks', '127.0.0.1:1080', '--http', '127.0.0.1:3128');
    expect(s).toMatchObject({
      state: 'connected',
      mode: 'proxy',
      transport: 'udp',
      interface: '',
      node: { id: node.id },
      proxy: { socks: '127.0.0.1:1080', http: '127.0.0.1:3128', auth: false },
    });
    expect(s.dns).toEqual([lab.host('resolver').v4]);
    // It really runs as nobody.
    const uid = (await client.run(['ps', '-o', 'uid=', '-p', String(s.pid)])).trim();
    expect(uid).toBe(String(NOBODY));

    lab.dns.clearEvents();
    const viaSocks = await curl('--socks5-hostname', '127.0.0.1:1080', 'http://web.lab/');
    expect(viaSocks, viaSocks.err).toMatchObject({ ok: true, out: node.host.v4 });
    const queries = lab.dns.queries().filter((q) => q.name?.startsWith('web.lab'));
    expect(queries.length).toBeGreaterThan(0);
    for (const q of queries) expect(q.from).toBe(node.host.v4); // asked through the tunnel, never locally

    expect(await curl('--proxytunnel', '--proxy', 'http://127.0.0.1:3128', 'http://web.lab/')).toMatchObject({
      ok: true,
      out: node.host.v4,
    });
    expect(await curl('--proxy', 'http://127.0.0.1:3128', 'http://web.lab/')).toMatchObject({
      ok: true,
      out: node.host.v4,
    });
    // IPv6 through the tunnel (the node offers it).
    expect(s.address.ipv6).not.toBeNull();
    expect(await curl('--socks5-hostname', '127.0.0.1:1080', web.url('/', { family: 6 }))).toMatchObject({
      ok: true,
      out: node.host.v6,
    });
    // A bulk transfer, exact size.
    const bulk = await curl(
      '--socks5-hostname',
      '127.0.0.1:1080',
      '-o',
      '/dev/null',
      '-w',
      '%{size_download}',
      'http://web.lab/bytes/4000000',
    );
    expect(bulk).toMatchObject({ ok: true, out: '4000000' });
    // The web host never saw the client's own address after the proxy started.
    const fromClient = lab
      .http('web')
      .requests()
      .filter((r) => r.from === client.v4 || r.from === client.v6);
    expect(fromClient.length).toBe(1); // the direct one before

    const st = await status();
    expect(st).toMatchObject({ state: 'connected', mode: 'proxy' });
    expect(st.proxy.connections.total).toBeGreaterThanOrEqual(5);
    expect(st.proxy.dnsQueries).toBeGreaterThan(0);
    expect((await vpnctl('status')).stdout).toContain(
      'listening    SOCKS5 127.0.0.1:1080, HTTP 127.0.0.1:3128',
    );

    // Rootless: no interface, route, rule, firewall or resolv.conf change on the client host.
    expect(await systemState(client)).toEqual(before);

    const off = await vpnctl('disconnect');
    expect(off.code, off.stderr).toBe(0);
    expect((await proc.exited).code).toBe(0);
    expect(proc.stderr()).toContain(`Proxy through ${node.id} stopped.`);
    expect((await curl('--socks5-hostname', '127.0.0.1:1080', 'http://web.lab/')).ok).toBe(false);
  }, 180_000);

  it('UDP through SOCKS5 UDP ASSOCIATE reaches a lab UDP echo from the node address; names resolve through the tunnel', async () => {
    const echo = web.spawn(fixture('udp-echo.ts', '7007'), { name: 'udp-echo' });
    await echo.waitFor('udp echo ready', { timeoutMs: 30_000 });
    const { proc } = await startProxy('--socks', '127.0.0.1:1080', '--http', 'off');
    try {
      const r = await asNobody(fixture('socks-udp.ts', '127.0.0.1', '1080', 'web.lab', '7007', 'hello'));
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ from: web.v4, port: 7007, data: `${node.host.v4}:hello` });
      const byAddress = await asNobody(fixture('socks-udp.ts', '127.0.0.1', '1080', web.v4, '7007', 'again'));
      expect(JSON.parse(byAddress.stdout)).toMatchObject({ data: `${node.host.v4}:again` });
      expect((await status()).proxy.udpAssociations.total).toBe(2);
    } finally {
      await vpnctl('disconnect');
      await proc.exited;
      await echo.stop();
    }
  }, 120_000);

  it('username/password on both proxies; a non-loopback address needs --allow-remote', async () => {
    const bad = await vpnctl('proxy', node.id, '--socks', `${client.v4}:1080`, '--json');
    expect(JSON.parse(bad.stdout).error.code).toBe('CORRIDOR_ERR_PROXY_INSECURE');
    env.CORRIDOR_PROXY_PASSWORD = 'pw-rootless';
    const { proc } = await startProxy(
      '--user',
      'alice',
      '--socks',
      '127.0.0.1:1080',
      '--http',
      '127.0.0.1:3128',
    );
    try {
      expect((await curl('--socks5-hostname', '127.0.0.1:1080', 'http://web.lab/')).ok).toBe(false);
      expect(
        await curl('--socks5-hostname', 'alice:pw-rootless@127.0.0.1:1080', 'http://web.lab/'),
      ).toMatchObject({
        ok: true,
        out: node.host.v4,
      });
      expect((await curl('--proxy', 'http://127.0.0.1:3128', 'http://web.lab/')).err).toContain('407');
      expect(
        await curl('--proxy', 'http://alice:pw-rootless@127.0.0.1:3128', 'http://web.lab/'),
      ).toMatchObject({
        ok: true,
        out: node.host.v4,
      });
      expect((await status()).proxy.refusals.authFailed).toBeGreaterThanOrEqual(2);
    } finally {
      delete env.CORRIDOR_PROXY_PASSWORD;
      await vpnctl('disconnect');
      await proc.exited;
    }
  }, 120_000);

  it('revoking the device cuts the proxy off', async () => {
    const { proc } = await startProxy('--socks', '127.0.0.1:1080', '--http', 'off');
    try {
      expect(await curl('--socks5-hostname', '127.0.0.1:1080', 'http://web.lab/')).toMatchObject({
        ok: true,
        out: node.host.v4,
      });
      const who = JSON.parse((await vpnctl('whoami', '--json')).stdout) as { device: { id: string } };
      const r = await ctl.call(
        'POST',
        `/v1/admin/devices/${who.device.id}/revoke`,
        undefined,
        `Bearer ${await ctl.adminToken()}`,
      );
      expect(r.status).toBeLessThan(300);
      await until(
        'the proxy stops carrying traffic',
        async () =>
          !(await curl('--max-time', '5', '--socks5-hostname', '127.0.0.1:1080', 'http://web.lab/')).ok,
        60_000,
      );
      // And it stays cut: re-ticketing is refused for a revoked device.
      await until('vpnctl notices', async () => (await status()).state !== 'connected', 90_000);
      expect(
        (await curl('--max-time', '5', '--socks5-hostname', '127.0.0.1:1080', 'http://web.lab/')).ok,
      ).toBe(false);
    } finally {
      await vpnctl('disconnect');
      await proc.exited;
    }
  }, 240_000);
});
