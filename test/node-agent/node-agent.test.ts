/**
 * The node agent in network namespaces with everything real: the controller process (embedded
 * PostgreSQL), `corridor-node run` with a kernel TUN, forwarding and nftables NAT, a client endpoint
 * (kernel TUN + the protocol's initiator) in its own namespace, and a web server behind the node.
 * Tests run in order and share the lab (see lab.ts for the topology). Root only; skipped with the
 * reason printed elsewhere. Every namespace and process is removed in afterAll, also on failure.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientHost, Lab, ROOT, labSkipReason, waitForOutput, type Proc } from './lab.js';

const skip = labSkipReason();
if (skip) console.warn(`[node-agent lab] skipping: ${skip}`);

const CONTROLLER_PORT = 8443;
const AGENT = path.join(ROOT, 'apps/node-agent/src/main.ts');

interface Ticket {
  ticket: string;
  ticketId: string;
  expiresAt: string;
  node: { publicKey: string; endpoint: { host: string; udpPort: number; tcpPort: number } };
}

describe.skipIf(skip !== undefined)('corridor-node in network namespaces', { timeout: 120_000 }, () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'corridor-node-lab-'));
  const lab = new Lab(tmp);
  const adminPassword = randomBytes(12).toString('base64url');
  let controller: Proc;
  let host: ClientHost;
  let agent: Proc | null = null;
  let fingerprint = '';
  let enrollmentToken = '';
  let earlyTicket: Ticket;
  let earlyTicketAt = 0;
  const dataDir = path.join(tmp, 'node');

  const startControllerOnce = async (): Promise<void> => {
    const cli = path.join(ROOT, 'apps/controller/dist/cli.js');
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'pnpm build' first (scripts/test.sh does)`);
    controller = lab.spawn(lab.ns.ctl, 'controller', process.execPath, [cli, 'serve'], {
      NODE_ENV: 'development',
      HOST: lab.addr.ctl,
      PORT: String(CONTROLLER_PORT),
      LOG_LEVEL: 'warn',
      CORRIDOR_DATA_DIR: path.join(tmp, 'controller'),
      CORRIDOR_ADMIN_EMAIL: 'admin@lab.test',
      CORRIDOR_ADMIN_PASSWORD: adminPassword,
      DATABASE_URL: '',
      REDIS_URL: '',
      TICKET_TTL_S: '60',
      NODE_LIVENESS_TTL_S: '3600',
    });
    await waitForOutput(controller, /Fingerprint=[0-9A-F:]+/, 90_000);
  };

  // The embedded database can miss Fastify's plugin timeout on a loaded machine: a few attempts.
  const startController = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await startControllerOnce();
        return;
      } catch (err) {
        if (attempt >= 3 || !/did not start in time/.test(String(err))) throw err;
      }
    }
  };

  const startAgent = async (extra: string[] = []): Promise<Proc> => {
    const p = lab.tsx(lab.ns.node, 'agent', AGENT, [
      'run',
      '--controller-url',
      `https://${lab.addr.ctl}:${CONTROLLER_PORT}`,
      '--controller-fingerprint',
      fingerprint,
      '--node-id',
      'lab-1',
      '--enrollment-token',
      enrollmentToken,
      '--data-dir',
      dataDir,
      '--udp-listen',
      `${lab.addr.node}:51820`,
      '--tcp-listen',
      `${lab.addr.node}:8443`,
      '--egress-interface',
      'wan0',
      '--metrics-listen',
      '127.0.0.1:9817',
      '--heartbeat-seconds',
      '2',
      '--log-level',
      'debug',
      ...extra,
    ]);
    await waitForOutput(p, /"node agent running"/, 60_000);
    return p;
  };

  const stopAgent = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (!agent) return null;
    const a = agent;
    agent = null;
    a.child.kill(signal);
    return a.exited;
  };

  // The status document, loosely typed: the tests read a few fields of it.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const status = async (): Promise<Record<string, any>> =>
    JSON.parse(
      await lab.exec(lab.ns.node, process.execPath, [
        '--conditions=source',
        '--import',
        'tsx',
        AGENT,
        'status',
        '--json',
        '--data-dir',
        dataDir,
      ]),
    );

  const tables = async (): Promise<string[]> =>
    (await lab.exec(lab.ns.node, 'nft', ['list', 'tables']))
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);

  const connect = (name: string, t: Ticket, conn: string, extra: Record<string, unknown> = {}) =>
    host.call<{ ok: boolean; params?: Record<string, unknown>; error?: string; received?: number }>(
      'connect',
      {
        name,
        conn,
        ticket: t.ticket,
        nodeKey: t.node.publicKey,
        host: lab.addr.node,
        port: extra.transport === 'tcp' ? 8443 : 51820,
        ...extra,
      },
    );

  const ticket = (name: string, nodeId = 'lab-1') => host.call<Ticket>('ticket', { name, nodeId });

  beforeAll(async () => {
    await lab.up();
    await startController();
    const certPem = readFileSync(path.join(tmp, 'controller', 'tls-cert.pem'), 'utf8');
    fingerprint = new X509Certificate(certPem).fingerprint256;
    lab.spawn(lab.ns.web, 'web', process.execPath, [
      '-e',
      `require('http').createServer((q,s)=>{const u=new URL(q.url,'http://x');` +
        `if(u.pathname==='/bytes'){s.end(Buffer.alloc(Number(u.searchParams.get('n')),97));return}` +
        `s.end(q.socket.remoteAddress.replace(/^::ffff:/,''))}).listen(80,'::')`,
    ]);
    host = new ClientHost(
      lab.tsx(lab.ns.cli, 'client-host', path.join(ROOT, 'test/node-agent/fixtures/client-host.ts'), [], {
        LAB_CONTROLLER_URL: `https://${lab.addr.ctl}:${CONTROLLER_PORT}`,
        LAB_CONTROLLER_CA: certPem,
      }),
    );
    await host.ready;
    // The controller needs a moment for its embedded database after printing the fingerprint.
    for (let i = 0; ; i++) {
      try {
        await host.call('init', { email: 'admin@lab.test', password: adminPassword });
        break;
      } catch (err) {
        if (i > 60) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const created = await host.call<{ status: number; json: { enrollmentToken: string } }>('api', {
      as: 'admin',
      method: 'POST',
      path: '/v1/admin/nodes',
      body: {
        id: 'lab-1',
        region: 'lab',
        country: 'DE',
        city: 'Lab',
        endpoint: { host: lab.addr.node, udpPort: 51820, tcpPort: 8443 },
      },
    });
    expect(created.status).toBe(201);
    enrollmentToken = created.json.enrollmentToken;
    agent = await startAgent();
    await host.call('user', { name: 'early' });
    // Tickets are issued only for online nodes: wait for the first heartbeat.
    for (let i = 0; ; i++) {
      try {
        earlyTicket = await ticket('early');
        earlyTicketAt = Date.now();
        break;
      } catch (err) {
        if (i > 40) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }, 240_000);

  afterAll(async () => {
    try {
      if (agent) await stopAgent();
    } finally {
      await lab.down();
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 60_000);

  const explain = () => lab.logs();

  it('a client fetches from a web server through the node, which sees the node address (IPv4, IPv6, UDP and TCP)', async () => {
    await host.call('user', { name: 'alice' });
    const t = await ticket('alice');
    const c = await connect('alice', t, 'a1', { tun: true });
    expect(c.ok, `${JSON.stringify(c)}\n${explain()}`).toBe(true);
    expect(c.params).toMatchObject({
      clientIPv4: '10.8.0.2',
      gatewayIPv4: '10.8.0.1',
      mtu: 1420,
      keepaliveSeconds: 25,
    });
    expect(c.params?.clientIPv6).toMatch(/^fd[0-9a-f]{2}:/);
    const v4 = await host.call('fetch', { url: `http://${lab.addr.web}/ip` });
    expect(v4, explain()).toMatchObject({ ok: true, body: lab.addr.wan });
    const v6 = await host.call('fetch', { url: `http://[${lab.addr.web6}]/ip` });
    expect(v6, explain()).toMatchObject({ ok: true, body: lab.addr.wan6 });
    const s = await status();
    expect(s.sessions).toHaveLength(1);
    expect(s.sessions[0]).toMatchObject({ address: '10.8.0.2', ticketId: t.ticketId });
    expect(s.sessions[0].rxBytes).toBeGreaterThan(0);
    await host.call('disconnect', { conn: 'a1' });

    // The same device over TCP (the fallback transport) gets its address back.
    const t2 = await ticket('alice');
    const c2 = await connect('alice', t2, 'a2', { tun: true, transport: 'tcp' });
    expect(c2.ok, JSON.stringify(c2)).toBe(true);
    expect(c2.params?.clientIPv4).toBe('10.8.0.2');
    expect(await host.call('fetch', { url: `http://${lab.addr.web}/ip` })).toMatchObject({
      ok: true,
      body: lab.addr.wan,
    });
    await host.call('disconnect', { conn: 'a2' });
  });

  it('refuses forged, wrong-node, wrong-key, revoked and replayed handshakes silently', async () => {
    await host.call('user', { name: 'mallory' });
    const forged = await host.call<{ ticket: string }>('forgeTicket', { name: 'mallory', nodeId: 'lab-1' });
    const real = await ticket('mallory');
    const f = await connect('mallory', { ...real, ticket: forged.ticket }, 'forged', { timeoutMs: 1500 });
    expect(f).toMatchObject({ ok: false, received: 0 });

    // A valid ticket for another node: lab-2 enrolls (fake key) and heartbeats so tickets are issued.
    const n2 = await host.call<{ json: { enrollmentToken: string } }>('api', {
      as: 'admin',
      method: 'POST',
      path: '/v1/admin/nodes',
      body: {
        id: 'lab-2',
        region: 'lab',
        country: 'DE',
        city: 'Lab',
        endpoint: { host: '198.18.0.99', udpPort: 51820, tcpPort: 443 },
      },
    });
    const e2 = await host.call<{ status: number; json: { nodeCredential: string } }>('api', {
      method: 'POST',
      path: '/v1/agent/enroll',
      body: {
        enrollmentToken: n2.json.enrollmentToken,
        // Another valid key (the last base64url character flipped between two valid values): a
        // plain replacement by 'A' gave lab-1's own key back one time in 16 and the enrollment clashed.
        publicKey: real.node.publicKey.replace(/.$/, (c) => (c === 'A' ? 'E' : 'A')),
        agentVersion: '0.0.1',
      },
    });
    expect(e2.status).toBe(200);
    await host.call('api', {
      method: 'POST',
      path: '/v1/agent/heartbeat',
      headers: { authorization: `Node lab-2:${e2.json.nodeCredential}` },
      body: { protocolVersion: 1, agentVersion: '0.0.1', load: 0, activeSessions: 0, sessions: [] },
    });
    const other = await ticket('mallory', 'lab-2');
    expect(
      await connect('mallory', { ...real, ticket: other.ticket }, 'wrongnode', { timeoutMs: 1500 }),
    ).toMatchObject({ ok: false, received: 0 });
    expect(await connect('mallory', real, 'wrongkey', { wrongKey: true, timeoutMs: 1500 })).toMatchObject({
      ok: false,
      received: 0,
    });

    const revoked = await ticket('mallory');
    await host.call('api', {
      as: 'admin',
      method: 'POST',
      path: `/v1/admin/tickets/${revoked.ticketId}/revoke`,
    });
    await new Promise((r) => setTimeout(r, 2500));
    expect(await connect('mallory', revoked, 'revoked', { timeoutMs: 1500 })).toMatchObject({
      ok: false,
      received: 0,
    });

    const good = await connect('mallory', await ticket('mallory'), 'good');
    expect(good.ok).toBe(true);
    expect(await host.call('replay', { conn: 'good' })).toEqual({ answered: 0 });

    const s = await status();
    // Each refused client retransmits its initiation until it gives up: at least one of each.
    for (const reason of ['badSignature', 'wrongNode', 'wrongClientKey', 'revoked']) {
      expect(s.rejects[reason], reason).toBeGreaterThanOrEqual(1);
    }
    expect(s.rejects.unknownKey + s.rejects.malformed).toBe(0);
    expect(s.tunnelDrops.staleTimestamp).toBeGreaterThanOrEqual(1);
    for (const c of ['forged', 'wrongnode', 'wrongkey', 'revoked', 'good'])
      await host.call('disconnect', { conn: c });
  });

  it('drops inner packets with a spoofed source', async () => {
    await host.call('user', { name: 'spoofer' });
    const c = await connect('spoofer', await ticket('spoofer'), 'sp');
    expect(c.ok).toBe(true);
    // The protocol's responder drops it (tunnelDrops); the engine's own source check is a backstop.
    const spoofed = async () => {
      const s = await status();
      return (s.drops.spoofedSource as number) + (s.tunnelDrops.spoofedSource as number);
    };
    const before = await spoofed();
    await host.call('spoof', { conn: 'sp', src: '10.8.0.200', dst: lab.addr.web });
    await new Promise((r) => setTimeout(r, 300));
    expect(await spoofed()).toBe(before + 1);
    await host.call('disconnect', { conn: 'sp' });
  });

  it('holds the ticket data quota and bandwidth limit', async () => {
    const qu = await host.call<{ deviceId: string }>('user', { name: 'quota', quota: 300_000 });
    const q = await connect('quota', await ticket('quota'), 'q', { tun: true });
    expect(q.ok).toBe(true);
    const big = await host.call<{ ok: boolean; bytes: number }>('fetch', {
      url: `http://${lab.addr.web}/bytes?n=2000000`,
      timeoutMs: 4000,
    });
    expect(big.bytes).toBeLessThan(300_000);
    await new Promise((r) => setTimeout(r, 500));
    const s = await status();
    expect(s.ended.quotaExceeded).toBe(1);
    expect(s.sessions.some((x: { deviceId: string }) => x.deviceId === qu.deviceId)).toBe(false);
    await host.call('disconnect', { conn: 'q' });

    await host.call('user', { name: 'slow', bandwidth: 200_000 });
    const b = await connect('slow', await ticket('slow'), 'b', { tun: true });
    expect(b.ok).toBe(true);
    const r = await host.call<{ ok: boolean; bytes: number; ms: number }>(
      'fetch',
      { url: `http://${lab.addr.web}/bytes?n=1000000`, timeoutMs: 30_000 },
      40_000,
    );
    expect(r).toMatchObject({ ok: true, bytes: 1_000_000 });
    // 1 MB at 200 kB/s with a 64 KiB burst cannot take less than ~4.7 s.
    expect(r.ms).toBeGreaterThan(3500);
    expect((await status()).drops.bandwidth).toBeGreaterThan(0);
    await host.call('disconnect', { conn: 'b' });
  });

  it('cuts a live session within 2 s of an admin revoking the device', async () => {
    const u = await host.call<{ deviceId: string }>('user', { name: 'rev' });
    const c = await connect('rev', await ticket('rev'), 'r', { tun: true });
    expect(c.ok).toBe(true);
    const f = await host.call('fetch', { url: `http://${lab.addr.web}/ip` });
    expect(f, `${JSON.stringify(await status())}\n${explain()}`).toMatchObject({ ok: true });
    const t0 = Date.now();
    await host.call('api', { as: 'admin', method: 'POST', path: `/v1/admin/devices/${u.deviceId}/revoke` });
    // The agent logs the cut with its time; the test and the agent share this machine's clock.
    let cutAt = 0;
    while (Date.now() - t0 < 5000 && cutAt === 0) {
      for (const line of agent!.log.join('').split('\n')) {
        if (
          line.includes('"session ended"') &&
          line.includes('"reason":"revoked"') &&
          line.includes(u.deviceId)
        ) {
          cutAt = Date.parse((JSON.parse(line) as { ts: string }).ts);
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(cutAt, explain()).toBeGreaterThan(0);
    expect(cutAt - t0).toBeLessThanOrEqual(2000);
    expect((await status()).sessions.some((x: { deviceId: string }) => x.deviceId === u.deviceId)).toBe(
      false,
    );
    expect(await host.call('fetch', { url: `http://${lab.addr.web}/ip`, timeoutMs: 1500 })).toMatchObject({
      ok: false,
    });
    await host.call('disconnect', { conn: 'r' });
  });

  it('kill -9 then restart leaves exactly one rule table; SIGTERM removes it and reports ended sessions', async () => {
    expect(await tables()).toEqual(['table inet corridor_corridor0']);
    const forward = () => lab.exec(lab.ns.node, 'cat', ['/proc/sys/net/ipv4/ip_forward']);
    expect((await forward()).trim()).toBe('1');
    await stopAgent('SIGKILL');
    expect(await tables()).toEqual(['table inet corridor_corridor0']); // left behind by the crash
    agent = await startAgent();
    expect(agent.log.join('')).toContain('removed the kernel setup a previous run left behind');
    expect(await tables()).toEqual(['table inet corridor_corridor0']);
    await host.call('user', { name: 'bye' });
    expect((await connect('bye', await ticket('bye'), 'bye')).ok).toBe(true);
    const a = agent;
    expect(await stopAgent('SIGTERM')).toBe(0);
    expect(a.log.join('')).toMatch(/"reported ended sessions to the controller".*"sessions":1/);
    expect(await tables()).toEqual([]);
    expect((await forward()).trim()).toBe('0');
    await host.call('disconnect', { conn: 'bye' });
    agent = await startAgent();
  });

  it('online authorisation: require and check admit a ticket the controller allows', async () => {
    // The controller serves POST /v1/agent/authorize (issue 7): it answers `ok` for a valid ticket.
    await host.call('user', { name: 'online' });
    await stopAgent();
    agent = await startAgent(['--online-auth', 'require']);
    expect((await connect('online', await ticket('online'), 'o1', { timeoutMs: 3000 })).ok).toBe(true);
    expect((await status()).rejects.onlineDenied ?? 0).toBe(0);
    await host.call('disconnect', { conn: 'o1' });
    await stopAgent();
    agent = await startAgent(['--online-auth', 'check']);
    expect((await connect('online', await ticket('online'), 'o2', { timeoutMs: 4000 })).ok).toBe(true);
    await host.call('disconnect', { conn: 'o2' });
    await stopAgent();
    agent = await startAgent();
  });

  it('keeps admitting valid tickets from its cache while the controller is down; refuses an expired one', async () => {
    await host.call('user', { name: 'offline' });
    const t = await ticket('offline');
    controller.child.kill('SIGKILL');
    await controller.exited;
    const c = await connect('offline', t, 'off', { tun: true });
    expect(c.ok, explain()).toBe(true);
    expect(await host.call('fetch', { url: `http://${lab.addr.web}/ip` })).toMatchObject({
      ok: true,
      body: lab.addr.wan,
    });
    await host.call('disconnect', { conn: 'off' });
    // A node restarted while the controller is down still starts and admits from its caches.
    await stopAgent();
    agent = await startAgent();
    expect((await connect('offline', t, 'off2')).ok).toBe(true);
    await host.call('disconnect', { conn: 'off2' });
    // The first ticket of the run (60 s lifetime + 30 s tolerated clock skew) has expired by now.
    const wait = earlyTicketAt + 92_000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    expect(await connect('early', earlyTicket, 'expired', { timeoutMs: 1500 })).toMatchObject({
      ok: false,
      received: 0,
    });
    expect((await status()).rejects.expired).toBe(1);
  });
});
