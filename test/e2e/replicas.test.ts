/**
 * Scenario 10: two controller replicas on one PostgreSQL and one Redis behind a real load balancer
 * (HAProxy from Debian with the repository's deploy/haproxy/haproxy.cfg), in the netns lab.
 *
 *   ctrl-a, ctrl-b   `corridor-controller serve` in production mode (NODE_ENV=production, a provided
 *                    certificate for api.lab, shared secrets), on a fresh database of the test
 *                    PostgreSQL server and a key prefix of the test Redis. The servers run in the root
 *                    namespace on loopback; each replica reaches them through the Unix-socket relay of
 *                    test/client-cli/fixtures/relay.ts, so no lab address can reach the root namespace.
 *   lb               HAProxy: TLS with the controllers' certificate towards clients, re-encrypted and
 *                    verified towards the replicas.
 *   node-eu          `corridor-node`, enrolled and heartbeating through the load balancer.
 *   client1/client2  `vpnctl`, logged in through the load balancer.
 *
 * Logins, tickets and revocations are made through each replica directly and through the load
 * balancer; then replica A is killed (SIGKILL) during a transfer and everything goes on through B.
 * Needs root, haproxy, openssl and DATABASE_URL_TEST / REDIS_URL_TEST (scripts/test.sh provides
 * them); otherwise skipped with the reason printed. Scenario 11's check runs at the end.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { formatPublicKey, generateX25519KeyPair } from '@corridor/protocol';
import {
  createLab,
  diffSnapshots,
  labSkipReason,
  snapshotRoot,
  type Lab,
  type LabHost,
} from '../lab/index.js';
import {
  cleanupHarness,
  CONTROLLER_MAIN,
  controllerHandle,
  e2eSkipReason,
  loginClient,
  ROOT,
  startNode,
  tsArgv,
  type ClientHandle,
  type ControllerHandle,
  type NodeHandle,
} from '../client-cli/harness.js';
import { makeCertificate } from '../deploy/lib/processes.js';
import { ClientHost } from '../node-agent/fixtures/client-rpc.js';
import { agentLog, MachineState, namespaces, nodeStatus, until, type Json } from './support.js';

const HAPROXY_CFG = path.join(ROOT, 'deploy/haproxy/haproxy.cfg');
const RELAY = path.join(ROOT, 'test/client-cli/fixtures/relay.ts');
const PUBLIC_HOST = 'api.lab';

function toolMissing(): string | undefined {
  for (const [tool, args] of [
    ['haproxy', ['-v']],
    ['openssl', ['version']],
  ] as const) {
    if (spawnSync(tool, [...args]).status !== 0)
      return `${tool} is not installed (apt-get install ${tool}; scripts/test.sh does as root)`;
  }
  if (!process.env.DATABASE_URL_TEST || !process.env.REDIS_URL_TEST)
    return 'DATABASE_URL_TEST and REDIS_URL_TEST are not set (scripts/services.sh starts PostgreSQL and Redis)';
  return undefined;
}

const skip = e2eSkipReason(labSkipReason()) ?? toolMissing();
if (skip) console.warn(`[e2e scenario 10] skipping: ${skip}`);

async function adminQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: process.env.DATABASE_URL_TEST });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

describe.skipIf(skip !== undefined)('two controller replicas behind HAProxy', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'corridor-e2e-replicas-'));
  const db = `corridor_e2e_${randomBytes(5).toString('hex')}`;
  const servers: net.Server[] = [];
  let dbCreated = false;
  let lab: Lab;
  let rootBefore: Awaited<ReturnType<typeof snapshotRoot>>;

  afterAll(async () => {
    await lab?.down();
    for (const s of servers) s.close();
    if (dbCreated) await adminQuery(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
    cleanupHarness();
    rmSync(dir, { recursive: true, force: true });
    if (rootBefore) expect(diffSnapshots(rootBefore, await snapshotRoot())).toBe('');
  }, 60_000);

  /** Unix sockets in `dir` forwarding to the real PostgreSQL and Redis (for the relays in the lab). */
  async function socketsToServices(): Promise<{ pg: string; redis: string }> {
    const forward = (sock: string, target: URL) =>
      new Promise<void>((resolve) => {
        const server = net.createServer((c) => {
          const up = net.connect(Number(target.port), target.hostname);
          c.pipe(up).pipe(c);
          const end = () => {
            c.destroy();
            up.destroy();
          };
          c.on('error', end);
          up.on('error', end);
        });
        servers.push(server);
        server.listen(sock, () => resolve());
      });
    const out = { pg: path.join(dir, 'pg.sock'), redis: path.join(dir, 'redis.sock') };
    await forward(out.pg, new URL(process.env.DATABASE_URL_TEST!));
    await forward(out.redis, new URL(process.env.REDIS_URL_TEST!));
    return out;
  }

  it('scenario 10: logins, tickets and revocations through either replica; one killed mid-run, clients do not notice', async () => {
    rootBefore = await snapshotRoot();
    lab = await createLab({
      label: 'e2e/replicas.test',
      hosts: [
        { name: 'resolver', role: 'resolver' },
        { name: 'ctrl-a', role: 'controller' },
        { name: 'ctrl-b', role: 'controller' },
        { name: 'lb', role: 'lb' },
        { name: 'node-eu', role: 'node', region: 'eu' },
        { name: 'client1', role: 'client' },
        { name: 'client2', role: 'client' },
        { name: 'web', role: 'web-echo' },
      ],
    });
    const web = lab.host('web');
    const c1Host = lab.host('client1');
    const c2Host = lab.host('client2');
    const stateBefore = await MachineState.take(lab, [c1Host, c2Host]);

    // ---- the deployment: one database, one Redis, two replicas, HAProxy ----------------------
    await adminQuery(`CREATE DATABASE ${db}`);
    dbCreated = true;
    const socks = await socketsToServices();
    const tls = makeCertificate(dir, 'controller', PUBLIC_HOST);
    const certPem = readFileSync(tls.certFile, 'utf8');
    const admin = { email: 'admin@corridor.lab', password: randomBytes(12).toString('base64url') };
    const shared = {
      NODE_ENV: 'production',
      HOST: '0.0.0.0',
      PORT: '8443',
      TRUST_PROXY: '1',
      LOG_LEVEL: 'warn',
      TLS_CERT_FILE: tls.certFile,
      TLS_KEY_FILE: tls.keyFile,
      JWT_SECRET: randomBytes(48).toString('base64'),
      SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      METRICS_TOKEN: randomBytes(32).toString('hex'),
      CORRIDOR_ADMIN_EMAIL: admin.email,
      CORRIDOR_ADMIN_PASSWORD: admin.password,
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
      TICKET_TTL_S: '60',
      DATABASE_URL: Object.assign(new URL(process.env.DATABASE_URL_TEST!), {
        host: '127.0.0.1:15432',
        pathname: `/${db}`,
      }).toString(),
      REDIS_URL: Object.assign(new URL(process.env.REDIS_URL_TEST!), { host: '127.0.0.1:16379' }).toString(),
      REDIS_KEY_PREFIX: `e2e-${db}:`,
    };
    const startReplica = async (host: LabHost): Promise<ControllerHandle> => {
      const relay = host.spawn(tsArgv(RELAY, `15432=${socks.pg}`, `16379=${socks.redis}`), {
        name: 'relay',
      });
      await relay.waitFor('relay ready', { timeoutMs: 30_000 });
      const proc = host.spawn(tsArgv(CONTROLLER_MAIN, 'serve'), {
        name: 'controller',
        cwd: dir,
        env: { ...process.env, ...shared, CORRIDOR_DATA_DIR: path.join(dir, host.name) },
      });
      // API calls to a replica directly come from client1 (any lab host would do).
      return controllerHandle(c1Host, { url: `https://${host.v4}:8443`, certPem, admin, process: proc });
    };
    // A first (it migrates the database and bootstraps the admin), then B on the same state.
    const a = await startReplica(lab.host('ctrl-a'));
    const b = await startReplica(lab.host('ctrl-b'));
    const lbHost = lab.host('lb');
    const haproxy = lbHost.spawn(['haproxy', '-db', '-f', HAPROXY_CFG], {
      name: 'haproxy',
      env: {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        CORRIDOR_PUBLIC_HOST: PUBLIC_HOST,
        CORRIDOR_API_BIND: ':8443',
        CORRIDOR_TLS_CRT: tls.certFile,
        CORRIDOR_BACKEND_CA: tls.certFile,
        CORRIDOR_CONTROLLER_1: `${lab.host('ctrl-a').v4}:8443`,
        CORRIDOR_CONTROLLER_2: `${lab.host('ctrl-b').v4}:8443`,
        CORRIDOR_LB_HEALTH_BIND: '127.0.0.1:8404',
      },
    });
    const lb = await controllerHandle(c1Host, {
      url: `https://${lbHost.v4}:8443`,
      certPem,
      admin,
      process: haproxy,
    });
    await haproxy
      .waitFor(/controller-1 [^\n]*is UP|Proxy controllers started/, { timeoutMs: 20_000 })
      .catch(() => undefined);
    const bothUp = async () =>
      (await lbHost.exec(['curl', '-s', 'http://127.0.0.1:8404/healthz'])).code === 0 &&
      !/controller-[12] is DOWN/.test(haproxy.stdout() + haproxy.stderr());
    await until('haproxy sees both replicas', bothUp, 20_000);

    // ---- logins, tickets and revocations through either replica -------------------------------
    const user = await a.createUser(); // created through A
    const loginB = await b.call<{ accessToken: string }>('POST', '/v1/auth/login', {
      email: user.email,
      password: user.password,
    });
    expect(loginB.status, JSON.stringify(loginB.body)).toBe(200); // logged in through B
    const bearer = `Bearer ${loginB.body.accessToken}`;
    const device = await a.call<{ id: string }>(
      'POST',
      '/v1/devices',
      { name: 'e2e', publicKey: formatPublicKey('x25519pub', generateX25519KeyPair().publicKey) },
      bearer, // B's token accepted by A
    );
    expect(device.status, JSON.stringify(device.body)).toBe(201);

    const node: NodeHandle = await startNode(lb, lab.host('node-eu'), {
      dnsServers: [lab.host('resolver').v4],
    });
    for (const replica of [a, b, lb]) {
      const t = await replica.call<{ ticket: string; node: { id: string } }>(
        'POST',
        `/v1/nodes/${node.id}/tickets`,
        { deviceId: device.body.id },
        bearer,
      );
      expect(t.status, `${replica.url}: ${JSON.stringify(t.body)}`).toBe(200);
      expect(t.body.node.id).toBe(node.id);
    }

    const c1: ClientHandle = await loginClient(lb, c1Host);
    const { status: s1 } = await c1.connect([node.id, '--transport', 'udp']);
    expect(s1).toMatchObject({ state: 'connected', node: { id: node.id } });
    expect((await c1Host.get(web.url('/'))).trim()).toBe(node.host.v4);

    /** An admin API client process on client1 for `via`'s URL (one per URL, kept running). */
    const rpcs = new Map<string, ClientHost>();
    const adminRpc = async (via: ControllerHandle): Promise<ClientHost> => {
      let h = rpcs.get(via.url);
      if (!h) {
        h = new ClientHost(c1Host, { LAB_CONTROLLER_URL: via.url, LAB_CONTROLLER_CA: certPem });
        await h.ready();
        await h.call('init', admin);
        rpcs.set(via.url, h);
      }
      return h;
    };

    /** A vpnctl user on client2 whose session a revocation through `via` cuts. */
    const revokeThrough = async (via: ControllerHandle, what: 'device' | 'user', withinMs: number) => {
      const c = await loginClient(lb, c2Host);
      const { process: vpn } = await c.connect([node.id, '--transport', 'udp']);
      expect((await c2Host.get(web.url('/'))).trim()).toBe(node.host.v4);
      // The admin call goes through a long-running client process (no process start in the
      // measured time); t0 is when the request leaves.
      const rpc = await adminRpc(via);
      let t0: number;
      if (what === 'device') {
        const devs = await rpc.call<{ status: number; json: { devices: { id: string }[] } }>('api', {
          as: 'admin',
          method: 'GET',
          path: `/v1/admin/users/${c.user.id}/devices`,
        });
        t0 = Date.now();
        const r = await rpc.call<{ status: number; json: unknown }>('api', {
          as: 'admin',
          method: 'POST',
          path: `/v1/admin/devices/${devs.json.devices[0]!.id}/revoke`,
        });
        expect(r.status, JSON.stringify(r.json)).toBe(200);
      } else {
        t0 = Date.now();
        const r = await rpc.call<{ status: number; json: unknown }>('api', {
          as: 'admin',
          method: 'POST',
          path: `/v1/admin/users/${c.user.id}/disable`,
        });
        expect(r.status, JSON.stringify(r.json)).toBe(200);
      }
      let cut: Json | undefined;
      await until(
        `revocation through ${via.url} reached the node`,
        () => {
          cut = agentLog(node).find(
            (l) => l.msg === 'session ended' && l.reason === 'revoked' && Date.parse(l.ts as string) >= t0,
          );
          return cut !== undefined;
        },
        10_000,
      );
      expect(Date.parse(cut!.ts as string) - t0).toBeLessThanOrEqual(withinMs);
      expect((await c2Host.fetch(web.url('/'), { timeoutMs: 2_000 })).type).toBe('error');
      await c.vpnctl(['disconnect']);
      await vpn.exited;
    };
    await revokeThrough(a, 'device', 2_000);
    await revokeThrough(b, 'user', 2_000);

    // ---- replica A killed during a transfer: nobody notices -----------------------------------
    const size = 1_500_000;
    const transfer = c1Host.exec(
      [
        'curl',
        '-sS',
        '--fail',
        '--limit-rate',
        '100k',
        '-o',
        '/dev/null',
        '-w',
        '%{size_download}',
        web.url(`/bytes/${size}`),
      ],
      { timeoutMs: 120_000 },
    );
    await new Promise((r) => setTimeout(r, 2_000));
    await a.process.stop({ signal: 'SIGKILL' });
    // Through the load balancer: every call answers, logins and tickets included.
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await lb.call('GET', '/readyz')).status);
    expect(
      statuses.every((s) => s === 200),
      statuses.join(' '),
    ).toBe(true);
    // A new vpnctl login, ticket and connect, then a revocation. The node's revocation long poll was
    // cut with replica A; it polls again through the load balancer (to B) after a short backoff, so
    // this revocation may take a few seconds longer than the 2 s above.
    await revokeThrough(lb, 'device', 10_000);
    const r = await transfer;
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.stdout)).toBe(size);
    const s = await c1.status();
    expect(s).toMatchObject({ state: 'connected', reconnects: 0 });
    // The node kept heartbeating through the load balancer (to B now) and is listed online.
    const hb = (await nodeStatus(node)).controller.heartbeatsOk as number;
    await until(
      'the node reports to the surviving replica',
      async () => ((await nodeStatus(node)).controller.heartbeatsOk as number) >= hb + 2,
      20_000,
    );
    const listed = await lb.call<{ items: { id: string; online: boolean }[] }>(
      'GET',
      '/v1/admin/nodes',
      undefined,
      `Bearer ${await lb.adminToken()}`,
    );
    expect(listed.body.items.find((x) => x.id === node.id)?.online).toBe(true);
    await haproxy.waitFor(/controller-1 is DOWN/, { timeoutMs: 15_000 });
    expect(b.process.running).toBe(true);

    await c1.vpnctl(['disconnect']);
    // Scenario 11 for this run.
    expect(stateBefore.diff(await MachineState.take(lab, [c1Host, c2Host]))).toBe('');
    const prefix = `crl-${lab.runId}-`;
    await lab.down();
    expect((await namespaces()).filter((n) => n.startsWith(prefix))).toEqual([]);
  }, 300_000);
});
