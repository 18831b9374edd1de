/**
 * A node without privilege: `corridor-node run --egress userspace` as `nobody` with no capabilities
 * (setpriv: empty bounding set, no_new_privs) on node-us, next to a kernel-mode node (root) on node-eu,
 * in the netns lab with the real controller and the real `vpnctl connect` on client1.
 *
 *   - the userspace node made no kernel change: no TUN, no nftables table, forwarding untouched;
 *   - through it a normal `vpnctl connect` client gets web (the web host sees the node's address),
 *     DNS (the lab resolver sees the query from the node), ping (a real echo through an unprivileged
 *     ICMP socket: the test allows group nogroup in the node namespace's net.ipv4.ping_group_range)
 *     and a 40 MB bulk transfer with every byte;
 *   - the egress policy keeps clients off the node's private LAN (192.168.77.0/24 behind each node)
 *     in both modes, counted by reason in the status and /metrics, while the node itself reaches it;
 *   - revoking the device ends the session at once and closes its relayed sockets; a data quota ends
 *     the session too.
 * Root only (the lab); skipped with the reason printed otherwise.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, labSkipReason, type Lab, type LabHost } from '../lab/index.js';
import {
  cleanupHarness,
  e2eSkipReason,
  loginClient,
  startController,
  vpnctlArgv,
  type ClientHandle,
  type ControllerHandle,
} from '../client-cli/harness.js';
import { addLan, cleanupRootless, NOBODY_UID, startNodeAs, type Lan, type RootlessNode } from './harness.js';

const skip = e2eSkipReason(labSkipReason());
if (skip) console.warn(`[rootless userspace node] skipping: ${skip}`);

const waitUntil = async (what: string, fn: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

describe.skipIf(skip !== undefined)(
  'userspace egress node as nobody (netns lab)',
  { timeout: 240_000 },
  () => {
    let lab: Lab;
    let ctl: ControllerHandle;
    let kernelNode: RootlessNode;
    let usNode: RootlessNode;
    let client: ClientHandle;
    let web: LabHost;
    const lans: Lan[] = [];

    beforeAll(async () => {
      lab = await createLab({
        label: 'rootless/userspace-node.test',
        hosts: [
          { name: 'resolver', role: 'resolver' },
          { name: 'controller', role: 'controller' },
          { name: 'node-eu', role: 'node', region: 'eu' },
          { name: 'node-us', role: 'node', region: 'us' },
          { name: 'client1', role: 'client' },
          { name: 'web', role: 'web-echo' },
        ],
      });
      web = lab.host('web');
      const nodeEu = lab.host('node-eu');
      const nodeUs = lab.host('node-us');
      lans.push(addLan(nodeEu), addLan(nodeUs));
      // The namespace's own sysctl (set by the test as root, not by the agent): ICMP datagram sockets
      // for group nogroup, so the unprivileged agent can ping for its clients.
      await nodeUs.run(['sysctl', '-qw', `net.ipv4.ping_group_range=${NOBODY_UID} ${NOBODY_UID}`]);
      ctl = await startController(lab.host('controller'), { TICKET_TTL_S: '300' });
      const dns = [lab.host('resolver').v4];
      kernelNode = await startNodeAs(ctl, nodeEu, { mode: 'kernel', dnsServers: dns });
      usNode = await startNodeAs(ctl, nodeUs, { mode: 'userspace', dnsServers: dns });
      client = await loginClient(ctl, lab.host('client1'));
    }, 240_000);

    afterAll(async () => {
      if (client) await client.vpnctl(['disconnect']).catch(() => undefined);
      await lab?.down();
      for (const l of lans) l.remove();
      cleanupHarness();
      cleanupRootless();
    });

    it('runs as nobody with no capabilities and changes nothing in the kernel', async () => {
      const st = await usNode.host.run(['cat', `/proc/${usNode.process.pid}/status`]);
      const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(st)?.[1]?.trim();
      expect(field('Uid')?.split(/\s+/)).toEqual(Array(4).fill(String(NOBODY_UID)));
      expect(field('CapEff')).toBe('0000000000000000');
      expect(field('CapPrm')).toBe('0000000000000000');
      expect(field('CapBnd')).toBe('0000000000000000');
      expect(field('NoNewPrivs')).toBe('1');
      expect(await usNode.host.run(['nft', 'list', 'ruleset'])).toBe('');
      expect(await usNode.host.run(['ip', '-o', 'link', 'show', 'type', 'tun'])).toBe('');
      expect((await usNode.host.run(['cat', '/proc/sys/net/ipv4/ip_forward'])).trim()).toBe('0');
      const s = await usNode.status();
      expect(s).toMatchObject({
        egressMode: 'userspace',
        tun: null,
        userspaceEgress: { pingPermitted: true },
      });
      // The kernel node next to it did its usual setup.
      expect(await kernelNode.host.run(['nft', 'list', 'tables'])).toContain('corridor_');
    });

    it('serves vpnctl connect: web, DNS, ping and a bulk transfer', async () => {
      const host = client.host;
      const { process: vpn } = await client.connect([usNode.id, '--transport', 'udp']);
      try {
        // Web: the web host sees the node's address.
        expect((await host.get(web.url('/'))).trim()).toBe(usNode.host.v4);
        expect(lab.http('web').requests().at(-1)?.from).toBe(usNode.host.v4);
        // DNS by name: the pushed resolver gets the query from the node (UDP relayed per flow).
        lab.dns.clearEvents();
        expect((await host.get('http://web.lab/')).trim()).toBe(usNode.host.v4);
        const q = lab.dns.queries().filter((x) => x.name?.startsWith('web.lab'));
        expect(q.length).toBeGreaterThan(0);
        expect(q.every((x) => x.from === usNode.host.v4)).toBe(true);
        // Ping: a real echo through the node's unprivileged ICMP socket.
        expect(await host.ping(web.v4, { count: 2, timeoutMs: 5_000 })).toBe(true);
        // ... and nothing answers for an address nobody has.
        expect(await host.ping('203.0.113.250', { count: 1, timeoutMs: 3_000 })).toBe(false);
        // Bulk: 40 MB with every byte.
        const n = 40_000_000;
        const r = await host.fetch(web.url(`/bytes/${n}`), { discardBody: true, timeoutMs: 90_000 });
        expect(r.type).toBe('response');
        if (r.type === 'response') expect(r.bytes).toBe(n);
        const s = await usNode.status();
        expect(s.userspaceEgress.tcpAccepted).toBeGreaterThanOrEqual(3);
        expect(s.userspaceEgress.echoReplied).toBeGreaterThanOrEqual(1);
        expect(s.userspaceEgress.udpFlows).toBeGreaterThanOrEqual(1);
      } finally {
        await client.vpnctl(['disconnect']);
        await vpn.exited;
      }
    });

    for (const mode of ['kernel', 'userspace'] as const) {
      it(`egress policy (${mode}): the node's private LAN is refused, counted by reason; the node itself reaches it`, async () => {
        const node = mode === 'kernel' ? kernelNode : usNode;
        const lan = lans[mode === 'kernel' ? 0 : 1]!;
        expect((await node.host.get(lan.url)).trim()).toBe('lan');
        const before = (await node.status()).egressRefused.nodeNetwork as number;
        const { process: vpn } = await client.connect([node.id, '--transport', 'udp']);
        try {
          expect((await client.host.get(web.url('/'))).trim()).toBe(node.host.v4);
          const r = await client.host.fetch(lan.url, { timeoutMs: 5_000 });
          expect(r.type).toBe('error');
          // ICMP administratively prohibited: refused at once, not a timeout.
          if (r.type === 'error') expect(r.reason).not.toBe('timeout');
          const r2 = await client.host.fetch(`http://${lan.nodeAddress}:9817/metrics`, { timeoutMs: 5_000 });
          expect(r2.type).toBe('error');
          await waitUntil('refusals counted', async () => {
            const s = await node.status();
            return s.egressRefused.nodeNetwork > before && s.egressRefused.nodeAddress > 0;
          });
          const m = await node.metrics();
          expect(m).toMatch(/corridor_node_egress_refused_total\{reason="nodeNetwork"\} [1-9]/);
        } finally {
          await client.vpnctl(['disconnect']);
          await vpn.exited;
        }
      });
    }

    it('revocation ends the session at once and closes its relayed sockets (userspace)', async () => {
      const { process: vpn } = await client.connect([usNode.id, '--transport', 'udp']);
      // A slow download keeps a relayed connection open (1 GB would take far longer than this test).
      const download = client.host.fetch(web.url('/bytes/1000000000'), {
        discardBody: true,
        timeoutMs: 15_000,
      });
      let deviceId = '';
      await waitUntil('relayed connection open', async () => {
        const s = await usNode.status();
        deviceId = s.sessions?.[0]?.deviceId ?? '';
        return s.userspaceEgress.tcpOpen >= 1;
      });
      const r = await ctl.call(
        'POST',
        `/v1/admin/devices/${deviceId}/revoke`,
        undefined,
        `Bearer ${await ctl.adminToken()}`,
      );
      expect(r.status).toBe(200);
      await waitUntil('session revoked and sockets closed', async () => {
        const s = await usNode.status();
        return s.ended.revoked >= 1 && s.sessions.length === 0 && s.userspaceEgress.tcpOpen === 0;
      });
      const d = await download;
      expect(d.type === 'error' || (d.type === 'response' && d.bytes < 1_000_000_000)).toBe(true);
      await client.vpnctl(['disconnect']);
      await vpn.exited;
    });

    it('a data quota ends the session (userspace)', async () => {
      // A user with a 2 MB quota on a client of their own.
      const email = `quota-${randomBytes(3).toString('hex')}@corridor.lab`;
      const password = `pw-${randomBytes(8).toString('hex')}`;
      const created = await ctl.call(
        'POST',
        '/v1/admin/users',
        { email, password, dataQuotaBytes: 2_000_000 },
        `Bearer ${await ctl.adminToken()}`,
      );
      expect(created.status).toBe(201);
      const host = client.host;
      const env = {
        ...process.env,
        HOME: path.join(client.home, 'quota'),
        XDG_CONFIG_HOME: path.join(client.home, 'quota', 'config'),
        XDG_STATE_HOME: path.join(client.home, 'quota', 'state'),
        XDG_RUNTIME_DIR: path.join(client.home, 'quota', 'run'),
        CORRIDOR_RESOLV_CONF: `/etc/netns/${host.ns}/resolv.conf`,
      };
      const login = await host.exec(
        vpnctlArgv(
          'login',
          '--server',
          ctl.url,
          '--pin',
          ctl.fingerprint256,
          '--email',
          email,
          '--password-stdin',
        ),
        { env, input: password, timeoutMs: 60_000 },
      );
      expect(login.code, login.stderr).toBe(0);
      const ended = ((await usNode.status()).ended.quotaExceeded as number) ?? 0;
      const vpn = host.spawn(vpnctlArgv('connect', usNode.id, '--transport', 'udp', '--json'), {
        name: 'vpnctl-quota',
        env,
      });
      try {
        await vpn.waitFor(/^\{"state":"connected"/, { timeoutMs: 60_000, stream: 'stdout' });
        const r = await host.fetch(web.url('/bytes/20000000'), { discardBody: true, timeoutMs: 8_000 });
        if (r.type === 'response') expect(r.bytes).toBeLessThan(20_000_000);
        await waitUntil(
          'quota session ended',
          async () => ((await usNode.status()).ended.quotaExceeded as number) > ended,
        );
      } finally {
        await host.exec(vpnctlArgv('disconnect'), { env, timeoutMs: 30_000 });
        await vpn.stop({ signal: 'SIGTERM', graceMs: 5_000 });
      }
    });
  },
);
