/**
 * Corridor end to end, the way a user meets it: scenarios 1-9 and 11 of the end-to-end list
 * (scenario 10, two controller replicas behind HAProxy, is in replicas.test.ts).
 *
 * Everything is real and runs in the netns lab (test/lab): the controller process
 * (`corridor-controller serve`: embedded PostgreSQL and in-process store, or the real servers when
 * DATABASE_URL_TEST / REDIS_URL_TEST are set), two `corridor-node` agents (node-eu dual-stack,
 * node-us IPv4 only) with kernel TUN, forwarding and nftables NAT, `vpnctl` processes on two client
 * hosts, the echo web host (answers the source address it sees), the region-locked web host
 * (geo-eu) and the lab's resolver. Scenario 6's refused tickets are presented by the protocol-level
 * client of the node-agent tests (test/node-agent/fixtures/client-host.ts), since vpnctl never sends
 * a ticket it knows to be expired or meant for another node.
 *
 * Scenario 11 is checked after every scenario (`scenario()` below): the root namespace, the lab's
 * namespaces and both client hosts' routes, rules, firewall, interfaces and resolv.conf must be as
 * before; its own test then tears the lab down and checks the root namespace against the state before
 * the lab existed. Scenario 6 stops the controller, so it runs last.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createLab,
  labSkipReason,
  snapshotRoot,
  diffSnapshots,
  type Lab,
  type LabHost,
} from '../lab/index.js';
import {
  cleanupHarness,
  e2eSkipReason,
  loginClient,
  startController,
  startNode,
  type ClientHandle,
  type ControllerHandle,
  type NodeHandle,
} from '../client-cli/harness.js';
import { ClientHost } from '../node-agent/fixtures/client-rpc.js';
import { agentLog, MachineState, namespaces, nodeStatus, until, type Json } from './support.js';

const skip = e2eSkipReason(labSkipReason());
if (skip) console.warn(`[e2e scenarios] skipping: ${skip}`);

// Tickets live 120 s: long enough for scenario 6 to reconnect on a held ticket while the controller
// is down (vpnctl re-tickets when a third of the lifetime is left), short enough that the ticket taken
// at the start has expired (120 s + the node's 30 s clock tolerance) when scenario 6 presents it.
const TICKET_TTL_S = 120;

interface TicketDoc {
  ticket: string;
  ticketId: string;
  node: { publicKey: string; endpoint: { host: string; udpPort: number; tcpPort: number } };
}

describe.skipIf(skip !== undefined)(
  'Corridor end to end (netns lab, real processes)',
  { timeout: 180_000 },
  () => {
    let lab: Lab;
    let ctl: ControllerHandle;
    let eu: NodeHandle;
    let us: NodeHandle;
    let c1: ClientHandle;
    let c2: ClientHandle;
    let web: LabHost;
    let geo: LabHost;
    let resolver: LabHost;
    let probe: ClientHost;
    let earlyTicket: TicketDoc;
    let earlyTicketAt = 0;
    let rootBeforeLab: Awaited<ReturnType<typeof snapshotRoot>>;
    const checked: { scenario: number; diff: string }[] = [];

    /**
     * One scenario: takes the machine state, runs `body`, then disconnects every client (also after a
     * failure) and requires the machine to be as before (scenario 11).
     */
    function scenario(n: number, title: string, body: () => Promise<void>, timeoutMs = 180_000) {
      it(
        `scenario ${n}: ${title}`,
        async () => {
          const before = await MachineState.take(lab, [c1.host, c2.host]);
          let diff: string | undefined;
          try {
            await body();
          } finally {
            for (const c of [c1, c2]) await c.vpnctl(['disconnect']);
            diff = before.diff(await MachineState.take(lab, [c1.host, c2.host]));
            checked.push({ scenario: n, diff });
          }
          expect(diff, `scenario ${n} left changes behind`).toBe('');
        },
        timeoutMs,
      );
    }

    const fetchBody = async (host: LabHost, url: string) =>
      (await host.get(url, { timeoutMs: 10_000 })).trim();

    beforeAll(async () => {
      rootBeforeLab = await snapshotRoot();
      lab = await createLab({
        label: 'e2e/scenarios.test',
        hosts: [
          { name: 'resolver', role: 'resolver' },
          { name: 'controller', role: 'controller' },
          { name: 'node-eu', role: 'node', region: 'eu' },
          { name: 'node-us', role: 'node', region: 'us' },
          { name: 'client1', role: 'client' },
          { name: 'client2', role: 'client' },
          { name: 'web', role: 'web-echo' },
          { name: 'geo-eu', role: 'web-geo', options: { allowRegions: ['eu'] } },
        ],
      });
      web = lab.host('web');
      geo = lab.host('geo-eu');
      resolver = lab.host('resolver');
      ctl = await startController(lab.host('controller'), { TICKET_TTL_S: String(TICKET_TTL_S) });
      [eu, us] = await Promise.all([
        startNode(ctl, lab.host('node-eu'), { id: 'eu-1', dnsServers: [resolver.v4] }),
        startNode(ctl, lab.host('node-us'), {
          id: 'us-1',
          dnsServers: [resolver.v4],
          extra: ['--client-subnet6', 'off'],
        }),
      ]);
      [c1, c2] = await Promise.all([
        loginClient(ctl, lab.host('client1')),
        loginClient(ctl, lab.host('client2')),
      ]);
      // The protocol-level client of scenario 6, with its own user and device key.
      probe = new ClientHost(lab.host('client2'), {
        LAB_CONTROLLER_URL: ctl.url,
        LAB_CONTROLLER_CA: ctl.certPem,
      });
      await probe.ready();
      await probe.call('init', { email: ctl.admin.email, password: ctl.admin.password });
      await probe.call('user', { name: 'probe' });
      earlyTicket = await probe.call<TicketDoc>('ticket', { name: 'probe', nodeId: eu.id });
      earlyTicketAt = Date.now();
    }, 300_000);

    afterAll(async () => {
      await lab?.down();
      cleanupHarness();
    }, 60_000);

    scenario(
      1,
      'UDP, TCP and auto with UDP blocked: the web host sees the node, not the client',
      async () => {
        const host = c1.host;
        expect(await fetchBody(host, web.url('/'))).toBe(host.v4);
        for (const transport of ['udp', 'tcp'] as const) {
          const { process: vpn, status } = await c1.connect([eu.id, '--transport', transport]);
          expect(status).toMatchObject({
            state: 'connected',
            transport,
            node: { id: eu.id, address: eu.host.v4 },
          });
          expect(await fetchBody(host, web.url('/'))).toBe(eu.host.v4);
          expect(lab.http('web').requests().at(-1)?.from).toBe(eu.host.v4);
          const off = await c1.vpnctl(['disconnect']);
          expect(off.code, off.stderr).toBe(0);
          expect((await vpn.exited).code).toBe(0);
        }
        const rule = await host.block({ proto: 'udp', peer: eu.host.v4 });
        try {
          const { status } = await c1.connect([eu.id, '--transport', 'auto']);
          expect(status).toMatchObject({ state: 'connected', transport: 'tcp' });
          expect(await rule.dropped()).toBeGreaterThan(0); // UDP was tried first and dropped
          expect(await fetchBody(host, web.url('/'))).toBe(eu.host.v4);
        } finally {
          await c1.vpnctl(['disconnect']);
          await rule.remove();
        }
        expect(await fetchBody(host, web.url('/'))).toBe(host.v4);
      },
    );

    scenario(
      2,
      'region-locked content only through a node of that region; connect auto --region',
      async () => {
        const host = c1.host;
        const direct = await host.fetch(geo.url('/'));
        expect(direct).toMatchObject({ type: 'response', status: 403 });

        const { status: inEu } = await c1.connect(['auto', '--region', 'eu']);
        expect(inEu).toMatchObject({ state: 'connected', node: { id: eu.id, region: 'eu' } });
        expect(await fetchBody(host, geo.url('/'))).toBe(eu.host.v4);
        await c1.vpnctl(['disconnect']);

        const { status: inUs } = await c1.connect(['auto', '--region', 'us']);
        expect(inUs).toMatchObject({ state: 'connected', node: { id: us.id, region: 'us' } });
        const fromUs = await host.fetch(geo.url('/'));
        expect(fromUs).toMatchObject({ type: 'response', status: 403 });
        expect(fromUs.type === 'response' && fromUs.body).toContain(`${us.host.v4} is not in region eu`);
        await c1.vpnctl(['disconnect']);

        const none = await c1.vpnctl(['connect', 'auto', '--region', 'asia']);
        expect(none.code).not.toBe(0);
        expect(none.stderr).toContain('no node is online in region asia');
      },
    );

    scenario(
      3,
      'a capture on the client link shows only tunnel packets: no marker, no inner protocol',
      async () => {
        const host = c1.host;
        const marker = `corridor-marker-${randomBytes(8).toString('hex')}`;
        const payload = Buffer.from(`${marker}\n`.repeat(4096)); // ~140 KB each way
        for (const transport of ['udp', 'tcp'] as const) {
          const { status } = await c1.connect([eu.id, '--transport', transport]);
          const port = transport === 'udp' ? (status.node as Json).udpPort : (status.node as Json).tcpPort;
          lab.dns.clearEvents();
          const cap = await host.capture({ name: `scenario3-${transport}` });
          const echoed = await host.fetch(web.url('/'), { method: 'POST', body: payload, timeoutMs: 20_000 });
          const named = await host.fetch(`http://web.lab/`, { timeoutMs: 10_000 }); // DNS + HTTP by name
          const res = await cap.stop();
          await c1.vpnctl(['disconnect']);

          expect(echoed).toMatchObject({ type: 'response', status: 200 });
          expect(echoed.type === 'response' && echoed.body.length).toBe(payload.length);
          expect(named).toMatchObject({ type: 'response', status: 200 });
          expect(lab.dns.queries().some((q) => q.name?.startsWith('web.lab') && q.from === eu.host.v4)).toBe(
            true,
          );

          const ip = res.packets().filter((p) => p.ipVersion !== undefined);
          const carried = ip.reduce((sum, p) => sum + p.payload.length, 0);
          expect(carried).toBeGreaterThan(2 * payload.length); // the transfer crossed this link
          expect(res.contains(marker)).toBe(false);
          for (const text of ['HTTP/1.1', 'GET / ', 'POST / ', 'web.lab', 'User-Agent'])
            expect(res.contains(text), text).toBe(false);
          // Every IP packet is client <-> node on the tunnel's port and transport (ICMPv6 neighbour
          // discovery aside): no DNS, no HTTP, no packet to the web host or the resolver.
          const foreign = ip.filter(
            (p) =>
              p.transport !== 'icmpv6' &&
              !(
                p.transport === transport &&
                ((p.src === host.v4 && p.dst === eu.host.v4 && p.dport === port) ||
                  (p.src === eu.host.v4 && p.dst === host.v4 && p.sport === port))
              ),
          );
          expect(
            foreign.map((p) => `${p.transport} ${p.src}:${p.sport} -> ${p.dst}:${p.dport}`),
            transport,
          ).toEqual([]);
        }
      },
    );

    scenario(
      4,
      'DNS through the tunnel to the pushed resolver; IPv6 egress via the node, blocked without it',
      async () => {
        const host = c1.host;
        expect(await fetchBody(host, web.url('/', { family: 6 }))).toBe(host.v6);
        const { status } = await c1.connect([eu.id]);
        expect(status).toMatchObject({ dns: [resolver.v4], routing: { ipv6: 'tunnel' } });
        lab.dns.clearEvents();
        expect(await host.run(['getent', 'ahostsv4', 'web.lab'])).toContain(web.v4);
        expect(await host.run(['getent', 'ahostsv6', 'web.lab'])).toContain(web.v6);
        const queries = lab.dns.queries().filter((q) => q.name?.startsWith('web.lab'));
        expect(queries.length).toBeGreaterThan(0);
        for (const q of queries) expect(q.from).toBe(eu.host.v4); // asked from the node: through the tunnel
        expect(await fetchBody(host, web.url('/', { family: 6 }))).toBe(eu.host.v6);
        expect(lab.http('web').requests().at(-1)?.from).toBe(eu.host.v6);
        await c1.vpnctl(['disconnect']);

        // node-us has no IPv6 for clients: the client's IPv6 is refused at once, never sent around it.
        const { status: v4only } = await c1.connect([us.id]);
        expect(v4only).toMatchObject({ routing: { ipv6: 'blocked' }, address: { ipv6: null } });
        const seen = lab.http('web').requests().length;
        const started = Date.now();
        const v6 = await host.fetch(web.url('/', { family: 6 }), { timeoutMs: 5_000 });
        expect(v6.type).toBe('error');
        expect(Date.now() - started).toBeLessThan(3_000);
        expect(await host.ping(web, { family: 6, timeoutMs: 2_000 })).toBe(false);
        expect(lab.http('web').requests().length).toBe(seen);
        expect(await fetchBody(host, web.url('/'))).toBe(us.host.v4);
      },
    );

    scenario(
      5,
      'an admin disables the user: the live session is cut within 2 s, a reconnect is refused',
      async () => {
        const user = await loginClient(ctl, c1.host);
        const { process: vpn } = await user.connect([eu.id, '--transport', 'udp']);
        expect(await fetchBody(c1.host, web.url('/'))).toBe(eu.host.v4);
        const userId = user.user.id;
        try {
          // Through the long-running admin client (no process start inside the measured time).
          const t0 = Date.now();
          const r = await probe.call<{ status: number }>('api', {
            as: 'admin',
            method: 'POST',
            path: `/v1/admin/users/${userId}/disable`,
          });
          expect(r.status).toBe(200);
          let cut: Json | undefined;
          await until(
            'the node cut the session',
            () => {
              cut = agentLog(eu).find((l) => l.msg === 'session ended' && Date.parse(l.ts as string) >= t0);
              return cut !== undefined;
            },
            10_000,
          );
          expect(cut!.reason).toBe('revoked');
          expect(Date.parse(cut!.ts as string) - t0).toBeLessThanOrEqual(2_000);
          expect((await c1.host.fetch(web.url('/'), { timeoutMs: 2_000 })).type).toBe('error');
          // The running vpnctl does not get back in with the ticket it holds.
          await new Promise((r) => setTimeout(r, 3_000));
          expect((await c1.host.fetch(web.url('/'), { timeoutMs: 2_000 })).type).toBe('error');
        } finally {
          await user.vpnctl(['disconnect']);
          await vpn.exited;
        }
        const again = await user.vpnctl(['connect', eu.id]);
        expect(again.code).not.toBe(0);
        expect(again.stderr).toMatch(/disabled/i);
      },
    );

    scenario(7, 'the node agent restarts: the client reconnects by itself (UDP and TCP)', async () => {
      for (const transport of ['udp', 'tcp'] as const) {
        const { process: vpn } = await c1.connect([eu.id, '--transport', transport]);
        expect(await fetchBody(c1.host, web.url('/'))).toBe(eu.host.v4);
        await eu.stop();
        await eu.restart();
        await until(
          `${transport}: traffic flows again`,
          async () => (await c1.host.get(web.url('/'), { timeoutMs: 3_000 })).trim() === eu.host.v4,
          90_000,
        );
        const s = await c1.status();
        expect(s).toMatchObject({ state: 'connected', transport });
        expect(vpn.running).toBe(true);
        await c1.vpnctl(['disconnect']);
      }
    });

    scenario(8, 'two clients on one node cannot reach each other, nor spoof each other', async () => {
      const { status: s1 } = await c1.connect([eu.id]);
      const { status: s2 } = await c2.connect([eu.id]);
      const a1 = ((s1.address as Json).ipv4 as string).split('/')[0]!;
      const a2 = ((s2.address as Json).ipv4 as string).split('/')[0]!;
      expect(a1).not.toBe(a2);
      expect(await fetchBody(c1.host, web.url('/'))).toBe(eu.host.v4);
      expect(await fetchBody(c2.host, web.url('/'))).toBe(eu.host.v4);

      const before = await nodeStatus(eu);
      expect(await c1.host.ping(a2, { count: 2, timeoutMs: 2_000 })).toBe(false);
      expect(await c2.host.ping(a1, { count: 2, timeoutMs: 2_000 })).toBe(false);
      const isolated = await nodeStatus(eu);
      expect(isolated.drops.isolation ?? 0).toBeGreaterThan(before.drops.isolation ?? 0);

      // client1 puts client2's tunnel address on its own interface and sends from it.
      const tun = s1.interface as string;
      await c1.host.run(['ip', 'addr', 'add', `${a2}/32`, 'dev', tun]);
      try {
        const seen = lab.http('web').requests().length;
        const ping = await c1.host.exec(['ping', '-n', '-c', '2', '-W', '2', '-I', a2, web.v4]);
        expect(ping.code, ping.stdout).not.toBe(0);
        const r = await c1.host.exec(
          ['curl', '-sS', '--max-time', '3', '--interface', a2, '--noproxy', '*', web.url('/')],
          { timeoutMs: 10_000 },
        );
        expect(r.code).not.toBe(0);
        expect(lab.http('web').requests().length).toBe(seen);
      } finally {
        await c1.host.exec(['ip', 'addr', 'del', `${a2}/32`, 'dev', tun]);
      }
      const after = await nodeStatus(eu);
      expect(after.tunnelDrops.spoofedSource).toBeGreaterThan(isolated.tunnelDrops.spoofedSource ?? 0);
      // Both still work.
      expect(await fetchBody(c1.host, web.url('/'))).toBe(eu.host.v4);
      expect(await fetchBody(c2.host, web.url('/'))).toBe(eu.host.v4);
    });

    scenario(
      9,
      'kill switch: with the node agent stopped the client has no path to the web host',
      async () => {
        const host = c1.host;
        const { status } = await c1.connect([eu.id, '--kill-switch', '--transport', 'tcp']);
        expect(status).toMatchObject({ killSwitch: true });
        expect(await fetchBody(host, web.url('/'))).toBe(eu.host.v4);
        await eu.stop();
        try {
          await until(
            'vpnctl is reconnecting',
            async () => (await c1.status()).state === 'reconnecting',
            30_000,
          );
          for (const family of [4, 6] as const) {
            expect(
              (await host.fetch(web.url('/', { family }), { timeoutMs: 3_000 })).type,
              `IPv${family}`,
            ).toBe('error');
            expect(await host.ping(web, { family, timeoutMs: 2_000 }), `IPv${family}`).toBe(false);
          }
          expect(await host.ping(host.gateway4, { timeoutMs: 2_000 })).toBe(false); // the link itself is closed
          expect((await host.fetch(geo.url('/'), { timeoutMs: 3_000 })).type).toBe('error');
        } finally {
          await eu.restart();
        }
        await until('reconnected', async () => (await c1.status()).state === 'connected', 90_000);
        expect(await fetchBody(host, web.url('/'))).toBe(eu.host.v4);
        await c1.vpnctl(['disconnect']);
        expect(await fetchBody(host, web.url('/'))).toBe(host.v4);
      },
    );

    scenario(
      6,
      'the controller is stopped: a valid ticket still connects; an expired or other-node ticket is refused',
      async () => {
        const fresh = await probe.call<TicketDoc>('ticket', { name: 'probe', nodeId: eu.id });
        const otherNode = await probe.call<TicketDoc>('ticket', { name: 'probe', nodeId: us.id });
        const { process: vpn } = await c1.connect([eu.id, '--transport', 'tcp']);
        await ctl.process.stop({ signal: 'SIGKILL' });
        const down = await c1.host.fetch(`${ctl.url}/readyz`, { timeoutMs: 3_000 });
        expect(down.type).toBe('error');

        const connect = (t: TicketDoc, conn: string) =>
          probe.call<{ ok: boolean; received?: number }>('connect', {
            name: 'probe',
            conn,
            ticket: t.ticket,
            nodeKey: fresh.node.publicKey,
            host: eu.host.v4,
            port: 51820,
            timeoutMs: 2_000,
          });
        expect(await connect(fresh, 'valid')).toMatchObject({ ok: true });
        await probe.call('disconnect', { conn: 'valid' });

        // vpnctl's own held ticket: the node restarts (forgets every session) while the controller is
        // down; vpnctl reconnects by itself and the node admits the ticket offline.
        await eu.stop();
        await eu.restart({ controller: false });
        await until(
          'vpnctl reconnected without the controller',
          async () => (await c1.host.get(web.url('/'), { timeoutMs: 3_000 })).trim() === eu.host.v4,
          60_000,
        );
        expect(vpn.running).toBe(true);

        expect(await connect(otherNode, 'other-node')).toMatchObject({ ok: false, received: 0 });
        const wait = earlyTicketAt + (TICKET_TTL_S + 32) * 1000 - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        expect(await connect(earlyTicket, 'expired')).toMatchObject({ ok: false, received: 0 });
        const s = await nodeStatus(eu);
        expect(s.rejects.wrongNode).toBeGreaterThanOrEqual(1);
        expect(s.rejects.expired).toBeGreaterThanOrEqual(1);
        for (const conn of ['other-node', 'expired']) await probe.call('disconnect', { conn });
      },
      300_000,
    );

    it('scenario 11: after every scenario routes, DNS, firewall, namespaces and interfaces are as before', async () => {
      expect(checked.map((c) => c.scenario)).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 6]);
      for (const c of checked) expect(c.diff, `scenario ${c.scenario}`).toBe('');
      const runPrefix = `crl-${lab.runId}-`;
      await lab.down();
      expect((await namespaces()).filter((n) => n.startsWith(runPrefix))).toEqual([]);
      expect(diffSnapshots(rootBeforeLab, await snapshotRoot())).toBe('');
    });
  },
);
