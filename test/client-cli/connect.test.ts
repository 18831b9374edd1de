/**
 * `vpnctl connect` end to end in network namespaces (test/lab): the real controller, the real
 * `corridor-node` and the real `vpnctl` processes, kernel TUN devices, routing and NAT.
 *
 * Each test connects and disconnects (or kills) a connection and checks the client host's routes,
 * firewall and resolv.conf afterwards against the state before.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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
  loginClient,
  startController,
  startNode,
  systemState,
  type ClientHandle,
  type ControllerHandle,
  type NodeHandle,
  ROOT,
  vpnctlArgv,
} from './harness.js';

const skip = e2eSkipReason(labSkipReason());
if (skip) console.warn(`[client-cli e2e] skipping: ${skip}`);

describe.skipIf(skip !== undefined)('vpnctl connect end to end', () => {
  let lab: Lab;
  let ctl: ControllerHandle;
  let node: NodeHandle;
  let client: ClientHandle;
  let web: LabHost;
  let web2: LabHost;

  let rootBefore: RootSnapshot;

  beforeAll(async () => {
    rootBefore = await snapshotRoot();
    lab = await createLab({
      label: 'client-cli/connect.test',
      hosts: [
        { name: 'resolver', role: 'resolver' },
        { name: 'controller', role: 'controller' },
        { name: 'node-eu', role: 'node', region: 'eu' },
        { name: 'node-us', role: 'node', region: 'us' },
        { name: 'client1', role: 'client' },
        { name: 'web', role: 'web-echo' },
        { name: 'web2', role: 'web-echo' },
      ],
    });
    web = lab.host('web');
    web2 = lab.host('web2');
    // Short tickets: re-ticketing happens during these tests (and is tested explicitly below).
    ctl = await startController(lab.host('controller'), { TICKET_TTL_S: '60' });
    node = await startNode(ctl, lab.host('node-eu'), { dnsServers: [lab.host('resolver').v4] });
    client = await loginClient(ctl, lab.host('client1'));
  }, 240_000);

  afterEach(async () => {
    // A failed test must not leave its connection running into the next one.
    if (client) await client.vpnctl(['disconnect']);
  });

  afterAll(async () => {
    await lab?.down();
    cleanupHarness();
    // vpnctl changed routes, DNS and firewall only inside the lab's client namespace.
    if (rootBefore) expect(diffSnapshots(rootBefore, await snapshotRoot())).toBe('');
  });

  it('UDP: the web host sees the node, not the client; disconnect restores routes, DNS and firewall', async () => {
    const host = client.host;
    const before = await systemState(host);
    expect((await host.get(web.url('/'))).trim()).toBe(host.v4);

    const { process: vpn, status } = await client.connect([node.id, '--transport', 'udp']);
    expect(status).toMatchObject({
      state: 'connected',
      transport: 'udp',
      node: { id: node.id, address: node.host.v4 },
    });
    expect((await host.get(web.url('/'))).trim()).toBe(node.host.v4);
    expect((await host.get(web2.url('/'))).trim()).toBe(node.host.v4);
    const during = await systemState(host);
    expect(during.resolvConf).toContain(`nameserver ${lab.host('resolver').v4}`);
    expect(during.routes4).toContain('0.0.0.0/1 dev corridor');

    const s = await client.status();
    expect(s).toMatchObject({ state: 'connected', transport: 'udp', routing: { mode: 'full' } });
    expect((s.bytes as { received: number }).received).toBeGreaterThan(0);

    const off = await client.vpnctl(['disconnect']);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stderr).toContain(`Disconnected from ${node.id}`);
    expect((await vpn.exited).code).toBe(0);
    expect(await systemState(host)).toEqual(before);
    expect((await host.get(web.url('/'))).trim()).toBe(host.v4);
  });

  async function disconnectAndCheck(
    before: Record<string, string>,
    vpn: { exited: Promise<{ code: number | null }> },
  ) {
    const off = await client.vpnctl(['disconnect']);
    expect(off.code, off.stderr).toBe(0);
    expect((await vpn.exited).code).toBe(0);
    expect(await systemState(client.host)).toEqual(before);
  }

  it('TCP: the same through the TCP transport; SIGTERM restores everything too', async () => {
    const before = await systemState(client.host);
    const { process: vpn, status } = await client.connect([node.id, '--transport', 'tcp']);
    expect(status).toMatchObject({ state: 'connected', transport: 'tcp' });
    expect((await client.host.get(web.url('/'))).trim()).toBe(node.host.v4);
    const exit = await vpn.stop({ signal: 'SIGTERM', graceMs: 20_000 });
    expect(exit.code).toBe(0);
    expect(vpn.stderr()).toContain('SIGTERM: disconnecting and restoring the network settings');
    expect(await systemState(client.host)).toEqual(before);
  });

  it('UDP: the node agent restarts (its sessions are gone); the client notices and re-handshakes by itself', async () => {
    const before = await systemState(client.host);
    const { process: vpn } = await client.connect([node.id, '--transport', 'udp']);
    await node.stop();
    await node.restart();
    // Traffic meets a node that forgot the session: no answer -> dead-peer rule -> new handshake.
    await until(
      async () => (await client.host.get(web.url('/'), { timeoutMs: 3_000 })).trim() === node.host.v4,
      90_000,
    );
    expect((await client.status()).state).toBe('connected');
    await disconnectAndCheck(before, vpn);
  });

  it('UDP blocked on the client link: auto falls back to TCP within seconds', async () => {
    const before = await systemState(client.host);
    const rule = await client.host.block({ proto: 'udp', peer: node.host.v4 });
    try {
      const started = Date.now();
      const { process: vpn, status } = await client.connect([node.id]);
      expect(status).toMatchObject({ state: 'connected', transport: 'tcp' });
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(await rule.dropped()).toBeGreaterThan(0); // UDP was tried first, and dropped
      expect(vpn.stderr()).toMatch(/UDP: no answer in 3 s; trying TCP/);
      expect((await client.host.get(web.url('/'))).trim()).toBe(node.host.v4);
      await disconnectAndCheck(before, vpn);
    } finally {
      await rule.remove();
    }
  });

  it('split tunnel: only the given prefix goes through the node', async () => {
    const before = await systemState(client.host);
    const { process: vpn, status } = await client.connect([node.id, '--split', web.subnet4]);
    expect(status).toMatchObject({ routing: { mode: 'split' } });
    expect((status.routing as { routes: string[] }).routes).toContain(web.subnet4);
    expect((await client.host.get(web.url('/'))).trim()).toBe(node.host.v4);
    expect((await client.host.get(web2.url('/'))).trim()).toBe(client.host.v4);
    await disconnectAndCheck(before, vpn);
  });

  it('DNS goes to the pushed resolver through the tunnel; resolv.conf is restored after', async () => {
    const before = await systemState(client.host);
    const { process: vpn } = await client.connect([node.id]);
    lab.dns.clearEvents();
    const answer = await client.host.run(['getent', 'ahostsv4', 'web.lab']);
    expect(answer).toContain(web.v4);
    const queries = lab.dns.queries().filter((q) => q.name?.startsWith('web.lab'));
    expect(queries.length).toBeGreaterThan(0);
    for (const q of queries) expect(q.from).toBe(node.host.v4); // seen from the node: it went through the tunnel
    await disconnectAndCheck(before, vpn);
    expect((await systemState(client.host)).resolvConf).toBe(before.resolvConf);
  });

  it('kill switch: killed with -9, nothing leaks; the next start restores everything first', async () => {
    const host = client.host;
    const before = await systemState(host);
    const { process: vpn } = await client.connect([node.id, '--kill-switch']);
    expect((await host.get(web.url('/'))).trim()).toBe(node.host.v4);
    await vpn.stop({ signal: 'SIGKILL' });
    // The TUN and its routes died with the process; the kill-switch table did not: no way out.
    expect((await systemState(host)).nft).toContain('table inet corridor_vpnctl');
    const leaked = await host.fetch(web.url('/'), { timeoutMs: 3_000 });
    expect(leaked.type).toBe('error');
    expect(await host.ping(host.gateway4, { timeoutMs: 2_000 })).toBe(false);
    expect(await client.status()).toEqual({ state: 'disconnected', staleJournal: true });

    const { process: again } = await client.connect([node.id]);
    expect(again.stderr()).toContain(
      'Restored the routes, DNS and firewall left by a connection that ended unexpectedly',
    );
    expect((await host.get(web.url('/'))).trim()).toBe(node.host.v4);
    await disconnectAndCheck(before, again);
    expect(await host.ping(host.gateway4, { timeoutMs: 2_000 })).toBe(true);
  });

  it('kill switch blocks everything while the node is down; the client reconnects by itself when it is back', async () => {
    const host = client.host;
    const before = await systemState(host);
    const { process: vpn } = await client.connect([node.id, '--kill-switch', '--transport', 'tcp']);
    await node.stop();
    await until(async () => (await client.status()).state === 'reconnecting', 30_000);
    expect((await host.fetch(web.url('/'), { timeoutMs: 3_000 })).type).toBe('error');
    expect(await host.ping(host.gateway4, { timeoutMs: 2_000 })).toBe(false); // outside the tunnel: blocked
    expect(await host.ping(web, { timeoutMs: 2_000 })).toBe(false);

    await node.restart();
    await until(async () => (await client.status()).state === 'connected', 90_000);
    expect((await host.get(web.url('/'))).trim()).toBe(node.host.v4);
    expect(((await client.status()).reconnects as number) > 0).toBe(true);
    await disconnectAndCheck(before, vpn);
    expect(await host.ping(host.gateway4, { timeoutMs: 2_000 })).toBe(true);
  });

  it('full tunnel: the node is away longer than the ticket lives; a new ticket comes from outside the tunnel and the client reconnects', async () => {
    // The controller sits behind the client's default route, which the full tunnel covers
    // (0.0.0.0/1 + 128.0.0.0/1): with the tunnel down it must still be reachable to re-ticket.
    const host = client.host;
    const before = await systemState(host);
    const { process: vpn, status } = await client.connect([node.id, '--transport', 'tcp']);
    const first = status.ticket as { id: string; expiresAt: string };
    await node.stop();
    await until(async () => (await client.status()).state === 'reconnecting', 30_000);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(first.expiresAt) - Date.now()) + 2_000));
    await node.restart();
    await until(async () => (await client.status()).state === 'connected', 60_000);
    expect((await host.get(web.url('/'))).trim()).toBe(node.host.v4);
    expect(((await client.status()).ticket as { id: string }).id).not.toBe(first.id);
    await disconnectAndCheck(before, vpn);
  }, 240_000);

  it('Ctrl-C while the kill switch is being installed: everything is undone, nothing keeps blocking', async () => {
    const host = client.host;
    const before = await systemState(host);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vpnctl-e2e-slow-nft-'));
    try {
      const started = path.join(dir, 'started');
      // nft, slowed down only for the script that installs the table: Ctrl-C lands while it runs
      // (and, like a real nft that already got going, it does not die of the signal).
      const wrapper = path.join(dir, 'slow-nft');
      writeFileSync(
        wrapper,
        `#!/bin/sh\ntrap "" INT TERM\nif [ "$1" = -f ]; then touch ${started}; sleep 2; fi\nexec nft "$@"\n`,
        {
          mode: 0o755,
        },
      );
      const vpn = host.spawn(vpnctlArgv('connect', node.id, '--kill-switch'), {
        name: 'vpnctl-cancelled',
        env: { ...process.env, ...client.env, CORRIDOR_NFT_COMMAND: wrapper },
      });
      await until(async () => existsSync(started), 60_000);
      await new Promise((r) => setTimeout(r, 200));
      const exit = await vpn.stop({ signal: 'SIGINT', graceMs: 30_000 });
      expect(exit.code, vpn.stderr()).toBe(1);
      expect(vpn.stderr()).toContain('Cancelled; nothing was left changed.');
      expect(await systemState(host)).toEqual(before);
      expect(existsSync(path.join(client.env.XDG_STATE_HOME!, 'corridor', 'journal.json'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('re-ticketing keeps a transfer running across the ticket expiry (60 s tickets)', async () => {
    const host = client.host;
    const before = await systemState(host);
    const { process: vpn, status } = await client.connect([node.id]);
    const first = status.ticket as { id: string; expiresAt: string };
    // ~110 s at 32 KiB/s: starts before the first ticket expires and ends well after it.
    const size = 3_600_000;
    const r = await host.exec(
      [
        'curl',
        '-sS',
        '--fail',
        '--limit-rate',
        '32k',
        '-o',
        '/dev/null',
        '-w',
        '%{size_download}',
        web.url(`/bytes/${size}`),
      ],
      { timeoutMs: 180_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.stdout)).toBe(size);
    const s = await client.status();
    const now = s.ticket as { id: string; expiresAt: string };
    expect(now.id).not.toBe(first.id);
    expect(Date.parse(now.expiresAt)).toBeGreaterThan(Date.parse(first.expiresAt));
    expect(Date.now()).toBeGreaterThan(Date.parse(first.expiresAt)); // the transfer outlived the first ticket
    expect(s.reconnects).toBe(0);
    await disconnectAndCheck(before, vpn);
  }, 240_000);

  it('IPv6 goes through the tunnel when the node offers it, and is blocked (never around the tunnel) when not', async () => {
    const host = client.host;
    expect((await host.get(web.url('/', { family: 6 }))).trim()).toBe(host.v6); // direct, before
    const before = await systemState(host);
    const { process: vpn, status } = await client.connect([node.id]);
    expect(status).toMatchObject({ routing: { ipv6: 'tunnel' } });
    expect((await host.get(web.url('/', { family: 6 }))).trim()).toBe(node.host.v6);
    await disconnectAndCheck(before, vpn);

    const v4only = await startNode(ctl, lab.host('node-us'), { extra: ['--client-subnet6', 'off'] });
    const { process: vpn2, status: s2 } = await client.connect([v4only.id]);
    expect(s2).toMatchObject({ routing: { ipv6: 'blocked' }, address: { ipv6: null } });
    const started = Date.now();
    const v6 = await host.fetch(web.url('/', { family: 6 }), { timeoutMs: 5_000 });
    expect(v6.type).toBe('error');
    expect(Date.now() - started).toBeLessThan(3_000); // refused at once, not a timeout
    expect(
      lab
        .http('web')
        .requests()
        .filter((r) => r.from === host.v6).length,
    ).toBe(1); // only the one before
    expect((await host.get(web.url('/'))).trim()).toBe(v4only.host.v4);
    await disconnectAndCheck(before, vpn2);
    await v4only.stop();
  });

  it('follows a changed local address: the tunnel moves with it and keeps working', async () => {
    const host = client.host;
    const before = await systemState(host);
    const { process: vpn } = await client.connect([node.id, '--transport', 'udp']);
    const old = host.v4;
    const moved = old.replace(/\.\d+$/, '.77');
    await host.run(['sysctl', '-qw', `net.ipv4.conf.${host.iface}.promote_secondaries=1`]);
    try {
      await host.run(['ip', 'addr', 'add', `${moved}/${host.prefix4}`, 'dev', host.iface]);
      await host.run(['ip', 'addr', 'del', `${old}/${host.prefix4}`, 'dev', host.iface]);
      await until(
        async () => (await host.get(web.url('/'), { timeoutMs: 2_000 })).trim() === node.host.v4,
        30_000,
      );
      await until(async () => vpn.stderr().includes('The network changed'), 10_000);
      expect((await client.status()).state).toBe('connected');
    } finally {
      await host
        .run(['ip', 'addr', 'add', `${old}/${host.prefix4}`, 'dev', host.iface])
        .catch(() => undefined);
      await host
        .run(['ip', 'addr', 'del', `${moved}/${host.prefix4}`, 'dev', host.iface])
        .catch(() => undefined);
      await host.run(['sysctl', '-qw', `net.ipv4.conf.${host.iface}.promote_secondaries=0`]);
    }
    await until(
      async () => (await host.get(web.url('/'), { timeoutMs: 2_000 })).trim() === node.host.v4,
      30_000,
    );
    await disconnectAndCheck(before, vpn);
  });

  it('--detach: connects, returns, runs in the background until `vpnctl disconnect`', async () => {
    const before = await systemState(client.host);
    const r = await client.vpnctl(['connect', node.id, '--detach']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Connected to .* running in the background \(pid \d+\)/);
    const s = await client.status();
    expect(s).toMatchObject({ state: 'connected', node: { id: node.id } });
    expect((await client.host.get(web.url('/'))).trim()).toBe(node.host.v4);
    const pid = s.pid as number;
    const off = await client.vpnctl(['disconnect', '--json']);
    expect(JSON.parse(off.stdout)).toEqual({ disconnected: true, restoredAfterCrash: false });
    await until(async () => (await client.host.exec(['kill', '-0', String(pid)])).code !== 0, 10_000);
    expect(await systemState(client.host)).toEqual(before);
  });

  it('--detach: the foreground vpnctl dies before the background one connected; the connection still comes up and stays', async () => {
    // E.g. Ctrl-C while it waits: the background process is in its own session and carries on, and
    // its "connected" message then goes to a parent that is gone.
    const before = await systemState(client.host);
    const log = path.join(client.env.XDG_STATE_HOME!, 'corridor', 'vpnctl.log');
    rmSync(log, { force: true });
    const parent = client.host.spawn(vpnctlArgv('connect', node.id, '--detach'), {
      name: 'vpnctl-detach-parent',
      env: { ...process.env, ...client.env },
    });
    await until(async () => existsSync(log), 60_000); // opened right before the child is started
    await parent.stop({ signal: 'SIGKILL' });
    await until(async () => (await client.status()).state === 'connected', 60_000);
    await new Promise((r) => setTimeout(r, 3_000));
    const s = await client.status();
    expect(s.state, readFileSync(log, 'utf8')).toBe('connected');
    expect((await client.host.get(web.url('/'))).trim()).toBe(node.host.v4);
    const off = await client.vpnctl(['disconnect', '--json']);
    expect(JSON.parse(off.stdout)).toEqual({ disconnected: true, restoredAfterCrash: false });
    await until(async () => (await client.host.exec(['kill', '-0', String(s.pid)])).code !== 0, 10_000);
    expect(await systemState(client.host)).toEqual(before);
  });

  const pty = path.join(ROOT, 'apps/client-cli/test/helpers/pty-driver.py');
  it.skipIf(!existsSync('/usr/bin/python3'))(
    'on a terminal: progress, a live status line, Ctrl-C restores everything',
    async () => {
      const before = await systemState(client.host);
      const script = [
        { expect: 'Ctrl-C disconnects.' },
        { expect: 'handshake' },
        { send: '\u0003' },
        { expect: 'restored' },
      ];
      const r = await client.host.exec(
        ['/usr/bin/python3', pty, JSON.stringify(script), ...vpnctlArgv('connect', node.id)],
        {
          env: { ...process.env, ...client.env, TERM: 'xterm' },
          timeoutMs: 60_000,
        },
      );
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toContain('Handshaking with');
      // `auto` first tries what last worked on this network: TCP once the UDP-blocked test ran.
      expect(r.stdout).toMatch(new RegExp(`● ${node.id}.*(UDP|TCP).*↑ .*↓ .*handshake \\d+s ago`));
      expect(r.stdout).toContain('Ctrl-C: disconnecting and restoring the network settings');
      expect(r.stdout).toContain(`Disconnected from ${node.id}; routes, DNS and firewall restored.`);
      expect(await systemState(client.host)).toEqual(before);
    },
  );
});

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
