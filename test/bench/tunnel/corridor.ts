/**
 * Corridor in the benchmark: the real controller (embedded PostgreSQL + in-process store, its
 * self-signed certificate pinned) and the real `corridor-node run` in the node namespace for the
 * whole run, and per round a client in the client namespace over UDP or over TCP.
 *
 * The client is the real `vpnctl connect` (logged in once with its own XDG directories under the run's
 * temporary directory; full tunnel, DNS left alone). CORRIDOR_BENCH_CLIENT=driver runs the small
 * client driver of fixtures/client-driver.ts instead (the same batched data path, no system changes
 * besides its TUN): for profiling a branch whose vpnctl is not there yet.
 *
 * CORRIDOR_BENCH_PROFILE=<dir> starts both Corridor data-path processes with `--cpu-prof` (written to
 * <dir> when they exit); CORRIDOR_BENCH_NODE_FLAGS adds Node flags to both (e.g. `--perf-basic-prof`
 * for `perf record`).
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Contender } from './contenders.js';
import { NODE_VETH_IP, sleep, type BenchNet, type Proc } from './netns.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TSX = path.join(ROOT, 'node_modules/tsx/dist/esm/index.mjs');
const CONTROLLER_MAIN = path.join(ROOT, 'apps/controller/src/cli.ts');
const NODE_AGENT_MAIN = path.join(ROOT, 'apps/node-agent/src/main.ts');
const VPNCTL_MAIN = path.join(ROOT, 'apps/client-cli/src/index.ts');
const API_CALL = path.join(ROOT, 'test/bench/tunnel/fixtures/api-call.ts');
const DRIVER = path.join(ROOT, 'test/bench/tunnel/fixtures/client-driver.ts');
const NODE_ID = 'bench-1';
const CONTROLLER_PORT = 8443;
const UDP_PORT = 51820;
const TCP_PORT = 443;

const profileDir = process.env.CORRIDOR_BENCH_PROFILE;

function node(script: string, args: string[], profileName?: string): string[] {
  const prof =
    profileDir && profileName
      ? [
          '--cpu-prof',
          '--cpu-prof-dir',
          profileDir,
          '--cpu-prof-name',
          `${profileName}-${Date.now()}.cpuprofile`,
        ]
      : [];
  const flags = profileName ? (process.env.CORRIDOR_BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []) : [];
  return [process.execPath, ...prof, ...flags, '--conditions=source', '--import', TSX, script, ...args];
}

/** Whether this checkout has `vpnctl connect`. */
export function vpnctlAvailable(): boolean {
  return existsSync(path.join(ROOT, 'apps/client-cli/src/commands/connect'));
}

export class CorridorService {
  private controller: Proc | null = null;
  agent: Proc | null = null;
  url = `https://${NODE_VETH_IP}:${CONTROLLER_PORT}`;
  fingerprint = '';
  private certPem = '';
  private adminToken = '';
  private readonly adminEmail = 'admin@bench.lab';
  private readonly adminPassword = `admin-${randomBytes(9).toString('hex')}`;
  readonly useVpnctl: boolean;
  private user: { email: string; password: string; token: string; deviceId: string } | null = null;
  private readonly home: string;

  constructor(
    private readonly net: BenchNet,
    private readonly dir: string,
  ) {
    this.useVpnctl = process.env.CORRIDOR_BENCH_CLIENT !== 'driver' && vpnctlAvailable();
    this.home = path.join(dir, 'vpnctl-home');
  }

  /** An HTTPS call to the controller made from the client namespace. */
  async call<T>(
    method: string,
    urlPath: string,
    body?: unknown,
    auth?: string,
  ): Promise<{ status: number; body: T }> {
    const r = await this.net.exec(
      this.net.client,
      node(API_CALL, [
        this.url,
        this.fingerprint,
        method,
        urlPath,
        body === undefined ? '-' : JSON.stringify(body),
        ...(auth ? [auth] : []),
      ]),
      { env: { ...process.env, CONTROLLER_CERT_PEM: this.certPem }, timeoutMs: 60_000 },
    );
    const line = r.stdout.trim().split('\n').at(-1);
    if (!line) throw new Error(`api-call ${method} ${urlPath}: no output (${r.stderr.trim()})`);
    return JSON.parse(line) as { status: number; body: T };
  }

  private async ok<T>(method: string, urlPath: string, body?: unknown, auth?: string): Promise<T> {
    const r = await this.call<T>(method, urlPath, body, auth);
    if (r.status < 200 || r.status >= 300)
      throw new Error(`${method} ${urlPath}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async start(): Promise<void> {
    const { net } = this;
    const ctlDir = path.join(this.dir, 'controller');
    mkdirSync(ctlDir, { recursive: true, mode: 0o700 });
    this.controller = net.spawn(
      net.node,
      'controller',
      node(CONTROLLER_MAIN, ['serve']),
      {
        ...process.env,
        NODE_ENV: 'development',
        LOG_LEVEL: 'warn',
        HOST: NODE_VETH_IP,
        PORT: String(CONTROLLER_PORT),
        CORRIDOR_DATA_DIR: ctlDir,
        CORRIDOR_ADMIN_EMAIL: this.adminEmail,
        CORRIDOR_ADMIN_PASSWORD: this.adminPassword,
        DATABASE_URL: '',
        REDIS_URL: '',
        ARGON2_MEMORY_KIB: '1024',
        ARGON2_TIME_COST: '1',
        TICKET_TTL_S: '3600',
        NODE_LIVENESS_TTL_S: '3600',
      },
      ctlDir,
    );
    await this.controller.waitFor(/Fingerprint=[0-9A-F:]+/, 120_000);
    this.certPem = readFileSync(path.join(ctlDir, 'tls-cert.pem'), 'utf8');
    this.fingerprint = new X509Certificate(this.certPem).fingerprint256;
    for (let i = 0; ; i++) {
      const r = await this.call('GET', '/readyz').catch(() => ({ status: 0 }));
      if (r.status === 200) break;
      if (i > 120) throw new Error(`controller not ready:\n${this.controller.output.slice(-2000)}`);
      await sleep(500);
    }
    const login = await this.ok<{ accessToken: string }>('POST', '/v1/auth/login', {
      email: this.adminEmail,
      password: this.adminPassword,
    });
    this.adminToken = `Bearer ${login.accessToken}`;
    const created = await this.ok<{ enrollmentToken: string }>(
      'POST',
      '/v1/admin/nodes',
      {
        id: NODE_ID,
        region: 'bench',
        country: 'DE',
        city: 'Bench',
        endpoint: { host: NODE_VETH_IP, udpPort: UDP_PORT, tcpPort: TCP_PORT },
      },
      this.adminToken,
    );
    this.agent = net.spawn(
      net.node,
      'corridor-node',
      node(
        NODE_AGENT_MAIN,
        [
          'run',
          '--controller-url',
          this.url,
          '--controller-fingerprint',
          this.fingerprint,
          '--node-id',
          NODE_ID,
          '--enrollment-token',
          created.enrollmentToken,
          '--data-dir',
          path.join(this.dir, 'node'),
          '--udp-listen',
          `${NODE_VETH_IP}:${UDP_PORT}`,
          '--tcp-listen',
          `${NODE_VETH_IP}:${TCP_PORT}`,
          '--egress-interface',
          'veth0',
          '--metrics-listen',
          'off',
          '--heartbeat-seconds',
          '5',
          // iperf3 listens on the node itself (its tunnel gateway), which the egress policy refuses
          // to clients by default.
          '--egress-allow',
          '10.8.0.1/32',
          ...(process.env.CORRIDOR_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        ],
        'corridor-node',
      ),
    );
    await this.agent.waitFor(/"node agent running"/, 120_000);
    for (let i = 0; ; i++) {
      const r = await this.call<{ nodes?: { id: string; online: boolean }[] }>(
        'GET',
        '/v1/nodes',
        undefined,
        this.adminToken,
      );
      if (r.body.nodes?.some((n) => n.id === NODE_ID && n.online)) break;
      if (i > 120) throw new Error(`node did not come online:\n${this.agent.output.slice(-2000)}`);
      await sleep(500);
    }
    const email = `bench-${randomBytes(3).toString('hex')}@bench.lab`;
    const password = `pw-${randomBytes(9).toString('hex')}`;
    await this.ok('POST', '/v1/admin/users', { email, password }, this.adminToken);
    if (this.useVpnctl) {
      const r = await this.vpnctl(
        ['login', '--server', this.url, '--pin', this.fingerprint, '--email', email, '--password-stdin'],
        password,
      );
      if (r.code !== 0) throw new Error(`vpnctl login: ${r.stderr}`);
      this.user = { email, password, token: '', deviceId: '' };
    } else {
      const l = await this.ok<{ accessToken: string }>('POST', '/v1/auth/login', { email, password });
      this.user = { email, password, token: `Bearer ${l.accessToken}`, deviceId: '' };
    }
  }

  vpnctlEnv(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      HOME: this.home,
      XDG_CONFIG_HOME: path.join(this.home, 'config'),
      XDG_STATE_HOME: path.join(this.home, 'state'),
      XDG_RUNTIME_DIR: path.join(this.home, 'run'),
      CORRIDOR_RESOLV_CONF: `/etc/netns/${this.net.client}/resolv.conf`,
    };
  }

  vpnctl(args: string[], input = ''): ReturnType<BenchNet['exec']> {
    mkdirSync(this.home, { recursive: true, mode: 0o700 });
    return this.net.exec(this.net.client, node(VPNCTL_MAIN, args), {
      env: this.vpnctlEnv(),
      input,
      timeoutMs: 90_000,
    });
  }

  /** Driver mode: a fresh device key registered for the bench user and a ticket for it. */
  async driverTicket(publicKey: string): Promise<{ ticket: string; nodeKey: string }> {
    const u = this.user!;
    const dev = await this.ok<{ id: string }>(
      'POST',
      '/v1/devices',
      { name: `bench-${randomBytes(2).toString('hex')}`, publicKey },
      u.token,
    );
    const t = await this.ok<{ ticket: string; node: { publicKey: string } }>(
      'POST',
      `/v1/nodes/${NODE_ID}/tickets`,
      { deviceId: dev.id },
      u.token,
    );
    return { ticket: t.ticket, nodeKey: t.node.publicKey };
  }

  async stop(): Promise<void> {
    await this.agent?.stop(10_000);
    await this.controller?.stop(10_000);
  }
}

export class CorridorContender implements Contender {
  readonly id: string;
  readonly label: string;
  serverIp = '10.8.0.1';
  private client: Proc | null = null;

  constructor(
    private readonly net: BenchNet,
    private readonly svc: CorridorService,
    private readonly transport: 'udp' | 'tcp',
  ) {
    this.id = `corridor-${transport}`;
    this.label = `Corridor ${transport.toUpperCase()}${svc.useVpnctl ? '' : ' (driver)'}`;
  }

  async up(): Promise<void> {
    const { net, svc } = this;
    if (svc.useVpnctl) {
      this.client = net.spawn(
        net.client,
        `vpnctl ${this.transport}`,
        node(
          VPNCTL_MAIN,
          ['connect', NODE_ID, '--transport', this.transport, '--no-dns', '--json'],
          'vpnctl',
        ),
        svc.vpnctlEnv(),
      );
      const m = await this.client.waitFor(/^\{"state":"connected".*$/m, 90_000);
      const status = JSON.parse(m[0]) as Record<string, unknown>;
      const gw = JSON.stringify(status).match(/"gateway(?:IPv4)?":"([\d.]+)"/);
      if (gw?.[1]) this.serverIp = gw[1];
      return;
    }
    this.client = net.spawn(net.client, `driver ${this.transport}`, node(DRIVER, [], 'client-driver'), {
      ...process.env,
      BENCH_TRANSPORT: this.transport,
      BENCH_NODE: NODE_VETH_IP,
      BENCH_UDP_PORT: String(UDP_PORT),
      BENCH_TCP_PORT: String(TCP_PORT),
    });
    const key = await this.client.waitFor(/^publicKey (\S+)$/m, 60_000);
    const t = await svc.driverTicket(key[1]!);
    this.client.child.stdin?.write(`${t.ticket} ${t.nodeKey}\n`);
    const m = await this.client.waitFor(/^connected gateway (\S+)$/m, 60_000);
    this.serverIp = m[1]!;
  }

  pids(): number[] {
    const p = [this.client?.pid, this.svc.agent?.pid].filter((x): x is number => x !== undefined);
    return p;
  }

  nodePid(): number | null {
    return this.svc.agent?.pid ?? null;
  }

  async down(): Promise<void> {
    await this.client?.stop(10_000);
    this.client = null;
  }
}
