/**
 * End-to-end harness for `vpnctl` on the netns lab (test/lab): the real controller process in the
 * controller host (embedded PostgreSQL + in-process store, its self-signed certificate pinned by
 * everyone), the real `corridor-node` in a node host (enrolled with a one-time token, kernel TUN,
 * NAT to its link), and the real `vpnctl` in client hosts, each with its own XDG directories.
 *
 * Nothing here runs in the root namespace except this test process: every command that touches a
 * network goes through `host.run`/`host.spawn` (`ip netns exec`). DNS changes happen only in a
 * client namespace whose /etc/netns/<ns>/resolv.conf the lab wrote before the namespace existed;
 * `assertOwnResolvConf` refuses to go on without it.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import net from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabHost, LabProcess } from '../lab/index.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSX = path.join(ROOT, 'node_modules/tsx/dist/esm/index.mjs');
const node = (script: string, ...args: string[]) => [
  process.execPath,
  '--import',
  TSX,
  '--conditions=source',
  script,
  ...args,
];

export const CONTROLLER_MAIN = path.join(ROOT, 'apps/controller/src/cli.ts');
/** The node agent's entry (overridable for running these tests against another build). */
export const NODE_AGENT_MAIN =
  process.env.CORRIDOR_NODE_AGENT_MAIN ?? path.join(ROOT, 'apps/node-agent/src/main.ts');
export const VPNCTL_MAIN = path.join(ROOT, 'apps/client-cli/src/index.ts');
const ADMIN_CALL = path.join(ROOT, 'test/client-cli/fixtures/admin-call.ts');
const RELAY = path.join(ROOT, 'test/client-cli/fixtures/relay.ts');

export const vpnctlArgv = (...args: string[]) => node(VPNCTL_MAIN, ...args);
/** argv running a TypeScript entry of this repository from any working directory. */
export const tsArgv = node;

const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}
/** Removes the temporary directories the harness made (call after lab.down()). */
export function cleanupHarness(): void {
  for (const c of cleanups.splice(0)) c();
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
const withEnv = (env: Record<string, string>) => ({ ...process.env, ...env });
const cleanups: (() => void)[] = [];

/**
 * Real PostgreSQL and Redis for a controller inside the lab: a fresh database on DATABASE_URL_TEST,
 * reached through Unix-socket relays (fixtures/relay.ts explains why). Undefined when the services
 * are not configured: the controller then runs on its embedded defaults.
 */
async function realServices(host: LabHost): Promise<Record<string, string> | undefined> {
  const pgUrl = process.env.DATABASE_URL_TEST;
  const redisUrl = process.env.REDIS_URL_TEST;
  if (!pgUrl || !redisUrl) return undefined;
  const db = `corridor_e2e_${randomBytes(5).toString('hex')}`;
  execFileSync('psql', [pgUrl, '-q', '-c', `CREATE DATABASE ${db}`], { stdio: 'pipe' });
  cleanups.push(() => {
    try {
      execFileSync('psql', [pgUrl, '-q', '-c', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`], {
        stdio: 'pipe',
      });
    } catch {
      // already gone
    }
  });
  const dir = tempDir('vpnctl-e2e-relay-');
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
      server.listen(sock, () => resolve());
      cleanups.push(() => server.close());
    });
  const pg = new URL(pgUrl);
  const redis = new URL(redisUrl);
  await forward(path.join(dir, 'pg.sock'), pg);
  await forward(path.join(dir, 'redis.sock'), redis);
  const relay = host.spawn(
    node(RELAY, `15432=${path.join(dir, 'pg.sock')}`, `16379=${path.join(dir, 'redis.sock')}`),
    {
      name: 'relay',
      env: process.env,
    },
  );
  await relay.waitFor('relay ready', { timeoutMs: 30_000 });
  const dbUrl = new URL(pgUrl);
  dbUrl.host = '127.0.0.1:15432';
  dbUrl.pathname = `/${db}`;
  const redisInNs = new URL(redisUrl);
  redisInNs.host = '127.0.0.1:16379';
  return { DATABASE_URL: dbUrl.toString(), REDIS_URL: redisInNs.toString(), REDIS_KEY_PREFIX: `e2e-${db}:` };
}

/** Why these tests cannot run here, or undefined. */
export function e2eSkipReason(labSkip: string | undefined): string | undefined {
  if (labSkip) return labSkip;
  if (!existsSync(NODE_AGENT_MAIN)) return `the node agent is not there (${NODE_AGENT_MAIN})`;
  if (!existsSync(path.join(ROOT, 'apps/controller/src/generated'))) {
    return 'the controller Prisma client is not generated (pnpm --filter @corridor/controller run generate)';
  }
  return undefined;
}

export interface ControllerHandle {
  readonly url: string;
  readonly fingerprint256: string;
  /** The controller's self-signed certificate (PEM), for clients that trust exactly it. */
  readonly certPem: string;
  /** The bootstrap admin's credentials (test-only, generated per run). */
  readonly admin: { readonly email: string; readonly password: string };
  readonly process: LabProcess;
  call<T = unknown>(
    method: string,
    urlPath: string,
    body?: unknown,
    auth?: string,
  ): Promise<{ status: number; body: T }>;
  adminToken(): Promise<string>;
  createUser(): Promise<{ email: string; password: string; id: string }>;
}

export async function startController(
  host: LabHost,
  env: Record<string, string> = {},
): Promise<ControllerHandle> {
  const dataDir = tempDir('vpnctl-e2e-ctl-');
  const adminEmail = 'admin@corridor.lab';
  const adminPassword = `admin-${randomBytes(8).toString('hex')}`;
  const services = (await realServices(host)) ?? {};
  const proc = host.spawn(node(CONTROLLER_MAIN, 'serve'), {
    name: 'controller',
    cwd: dataDir,
    env: withEnv({
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      HOST: '0.0.0.0',
      PORT: '8443',
      CORRIDOR_DATA_DIR: dataDir,
      CORRIDOR_ADMIN_EMAIL: adminEmail,
      CORRIDOR_ADMIN_PASSWORD: adminPassword,
      JWT_SECRET: randomBytes(32).toString('hex'),
      SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
      ...services,
      ...env,
    }),
  });
  await proc.waitFor(/Fingerprint=/, { timeoutMs: 90_000 });
  const certPem = readFileSync(path.join(dataDir, 'tls-cert.pem'), 'utf8');
  return controllerHandle(host, {
    url: `https://${host.v4}:8443`,
    certPem,
    admin: { email: adminEmail, password: adminPassword },
    process: proc,
  });
}

/**
 * A handle on a running controller (or a load balancer in front of replicas) at `url`, whose TLS
 * certificate is `certPem` (trusted exactly, by its fingerprint). API calls run inside `host`'s
 * namespace. Resolves once `/readyz` answers 200.
 */
export async function controllerHandle(
  host: LabHost,
  o: { url: string; certPem: string; admin: { email: string; password: string }; process: LabProcess },
): Promise<ControllerHandle> {
  const { url, certPem, admin, process: proc } = o;
  const fingerprint256 = new X509Certificate(certPem).fingerprint256;
  const call = async <T>(method: string, urlPath: string, body?: unknown, auth?: string) => {
    const out = await host.run(
      [
        ...node(
          ADMIN_CALL,
          url,
          fingerprint256,
          method,
          urlPath,
          body === undefined ? '-' : JSON.stringify(body),
          ...(auth ? [auth] : []),
        ),
      ],
      { env: withEnv({ CONTROLLER_CERT_PEM: certPem }), timeoutMs: 60_000 },
    );
    return JSON.parse(out.trim().split('\n').at(-1)!) as { status: number; body: T };
  };
  for (let i = 0; ; i++) {
    const r = await call('GET', '/readyz');
    if (r.status === 200) break;
    if (!proc.running) throw new Error(`controller exited:\n${proc.stderr()}\n${proc.stdout()}`);
    if (i > 60) throw new Error(`controller not ready: ${JSON.stringify(r)}\n${proc.stderr()}`);
    await new Promise((res) => setTimeout(res, 500));
  }
  let token: string | undefined;
  const adminToken = async () => {
    if (token) return token;
    const r = await call<{ accessToken: string }>('POST', '/v1/auth/login', admin);
    if (r.status !== 200) throw new Error(`admin login: ${JSON.stringify(r)}`);
    return (token = r.body.accessToken);
  };
  return {
    url,
    fingerprint256,
    certPem,
    admin,
    process: proc,
    call,
    adminToken,
    async createUser() {
      const email = `user-${randomBytes(3).toString('hex')}@corridor.lab`;
      const password = `pw-${randomBytes(8).toString('hex')}`;
      const r = await call<{ id: string }>(
        'POST',
        '/v1/admin/users',
        { email, password },
        `Bearer ${await adminToken()}`,
      );
      if (r.status !== 201) throw new Error(`create user: ${JSON.stringify(r)}`);
      return { email, password, id: r.body.id };
    },
  };
}

export interface NodeHandle {
  readonly id: string;
  readonly host: LabHost;
  /** The agent's data directory (key, caches, status socket). */
  readonly dataDir: string;
  process: LabProcess;
  /**
   * Starts the agent again (after stop()), same data dir and key. Waits until the controller lists
   * it online, or with `{ controller: false }` (the controller is down) until the agent runs.
   */
  restart(opts?: { controller?: boolean }): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Declares the node at the controller, then runs `corridor-node run` enrolled with the one-time token. */
export async function startNode(
  ctl: ControllerHandle,
  host: LabHost,
  opts: { id?: string; dnsServers?: string[]; extra?: string[]; udpPort?: number; tcpPort?: number } = {},
): Promise<NodeHandle> {
  const id = opts.id ?? `${host.name}-${randomBytes(2).toString('hex')}`;
  const created = await ctl.call<{ enrollmentToken: string }>(
    'POST',
    '/v1/admin/nodes',
    {
      id,
      region: host.region ?? 'eu',
      country: 'DE',
      city: 'Frankfurt',
      endpoint: { host: host.v4, udpPort: opts.udpPort ?? 51820, tcpPort: opts.tcpPort ?? 443 },
    },
    `Bearer ${await ctl.adminToken()}`,
  );
  if (created.status !== 201) throw new Error(`create node: ${JSON.stringify(created)}`);
  const dataDir = tempDir('vpnctl-e2e-node-');
  const args = [
    'run',
    '--controller-url',
    ctl.url,
    '--controller-fingerprint',
    ctl.fingerprint256,
    '--node-id',
    id,
    '--data-dir',
    dataDir,
    '--egress-interface',
    host.iface,
    '--udp-listen',
    `0.0.0.0:${opts.udpPort ?? 51820}`,
    '--tcp-listen',
    `0.0.0.0:${opts.tcpPort ?? 443}`,
    '--heartbeat-seconds',
    '2',
    '--metrics-listen',
    'off',
    ...(opts.dnsServers ? ['--dns-servers', opts.dnsServers.join(',')] : []),
    ...(opts.extra ?? []),
  ];
  const spawnAgent = (first: boolean) =>
    host.spawn(
      node(NODE_AGENT_MAIN, ...args, ...(first ? ['--enrollment-token', created.body.enrollmentToken] : [])),
      {
        name: 'node-agent',
        env: process.env,
      },
    );
  const handle: NodeHandle = {
    id,
    host,
    dataDir,
    process: spawnAgent(true),
    async restart({ controller = true } = {}) {
      handle.process = spawnAgent(false);
      if (controller) await waitOnline(ctl, id, handle.process);
      else await handle.process.waitFor(/"node agent running"/, { timeoutMs: 90_000 });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      await handle.process.stop({ signal, graceMs: 10_000 });
    },
  };
  await waitOnline(ctl, id, handle.process);
  return handle;
}

async function waitOnline(ctl: ControllerHandle, id: string, proc: LabProcess): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const r = await ctl.call<{ nodes: { id: string; online: boolean }[] }>(
      'GET',
      '/v1/nodes',
      undefined,
      `Bearer ${await ctl.adminToken()}`,
    );
    if (r.body.nodes?.some((n) => n.id === id && n.online)) return;
    if (!proc.running) throw new Error(`node agent exited:\n${proc.stderr()}\n${proc.stdout()}`);
    if (Date.now() > deadline) throw new Error(`node ${id} did not come online:\n${proc.stderr()}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

/** A vpnctl user on a client host: its own XDG dirs, logged in. */
export interface ClientHandle {
  readonly host: LabHost;
  readonly env: Record<string, string>;
  readonly home: string;
  /** The controller user this client is logged in as. */
  readonly user: { readonly id: string; readonly email: string };
  vpnctl(
    args: string[],
    opts?: { input?: string; timeoutMs?: number },
  ): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** `vpnctl connect ...` in the background; resolves once it printed the connected status (--json). */
  connect(args: string[]): Promise<{ process: LabProcess; status: Record<string, unknown> }>;
  status(): Promise<Record<string, unknown>>;
}

export async function loginClient(ctl: ControllerHandle, host: LabHost): Promise<ClientHandle> {
  const home = tempDir('vpnctl-e2e-home-');
  const env = {
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_STATE_HOME: path.join(home, 'state'),
    XDG_RUNTIME_DIR: path.join(home, 'run'),
    CORRIDOR_RESOLV_CONF: `/etc/netns/${host.ns}/resolv.conf`,
  };
  const vpnctl: ClientHandle['vpnctl'] = async (args, opts = {}) => {
    const r = await host.exec(vpnctlArgv(...args), {
      env: withEnv(env),
      input: opts.input ?? '',
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  };
  const user = await ctl.createUser();
  const login = await vpnctl(
    ['login', '--server', ctl.url, '--pin', ctl.fingerprint256, '--email', user.email, '--password-stdin'],
    {
      input: user.password,
    },
  );
  if (login.code !== 0) throw new Error(`vpnctl login failed: ${login.stderr}`);
  let seq = 0;
  return {
    host,
    env,
    home,
    user: { id: user.id, email: user.email },
    vpnctl,
    async connect(args) {
      assertOwnResolvConf(host);
      const proc = host.spawn(vpnctlArgv('connect', ...args, '--json'), {
        name: `vpnctl-${++seq}`,
        env: withEnv(env),
      });
      const line = await proc.waitFor(/^\{"state":"connected"/, { timeoutMs: 60_000, stream: 'stdout' });
      return { process: proc, status: JSON.parse(line) as Record<string, unknown> };
    },
    async status() {
      const r = await vpnctl(['status', '--json']);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    },
  };
}

/**
 * The safety rule for DNS tests: the client namespace must have its own resolv.conf (bind-mounted
 * over /etc/resolv.conf by `ip netns exec`), or vpnctl would write the machine's own file.
 */
export function assertOwnResolvConf(host: LabHost): void {
  const own = `/etc/netns/${host.ns}/resolv.conf`;
  if (!existsSync(own)) throw new Error(`refusing a DNS test: ${own} does not exist`);
}

/** Routing, firewall and DNS state of a host, for before/after comparisons. */
export async function systemState(host: LabHost): Promise<Record<string, string>> {
  const sorted = (s: string) =>
    s
      .split('\n')
      .map((l) => l.replace(/ expires \d+sec/g, '').trimEnd())
      .filter(Boolean)
      .sort()
      .join('\n');
  return {
    routes4: sorted(await host.run(['ip', '-4', 'route', 'show', 'table', 'all'])),
    routes6: sorted(await host.run(['ip', '-6', 'route', 'show', 'table', 'main'])),
    rules: sorted(await host.run(['ip', 'rule', 'show'])),
    nft: await host.run(['nft', 'list', 'ruleset']),
    links: sorted(
      (await host.run(['ip', '-o', 'link', 'show']))
        .replace(/^\d+: /gm, '')
        .replace(/link\/\S+ \S+( brd \S+)?/g, ''),
    ),
    resolvConf: readFileSync(`/etc/netns/${host.ns}/resolv.conf`, 'utf8'),
  };
}
