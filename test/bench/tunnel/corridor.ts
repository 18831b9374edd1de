/**
 * Corridor in the benchmark: the real controller (embedded PostgreSQL + in-process store, its
 * self-signed certificate pinned) and the real `corridor-node run` in the node namespace for the
 * whole run, and per round a client in the client namespace over UDP or over TCP.
 *
 * The client is the real `vpnctl connect`, run as root in the client namespace (logged in once with its
 * own XDG directories under the run's work directory; full tunnel, DNS left alone).
 *
 * CORRIDOR_BENCH_PROFILE=<dir> starts both Corridor data-path processes with `--cpu-prof` (written to
 * <dir>/<process>-<ms>/ when they exit, one file per thread); CORRIDOR_BENCH_NODE_FLAGS adds Node flags to both (e.g. `--perf-basic-prof`
 * for `perf record`).
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Contender } from './contenders.js';
import { NODE_VETH_IP, sleep, type BenchNet, type Proc } from './netns.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TSX = path.join(ROOT, 'node_modules/tsx/dist/esm/index.mjs');
const CONTROLLER_MAIN = path.join(ROOT, 'apps/controller/src/cli.ts');
/**
 * The data-path processes run as installed: the built `corridor-node` and `vpnctl` binaries (bin of
 * their package.json; main.ts builds them and their packages first), plain `node`, no loader.
 * CORRIDOR_BENCH_FROM_SOURCE=1 runs the sources through tsx instead (no build; slower start, and the
 * loader's thread and caches add ~50 MiB to the RSS figures).
 */
export const FROM_SOURCE = process.env.CORRIDOR_BENCH_FROM_SOURCE === '1';
const NODE_AGENT_MAIN = path.join(
  ROOT,
  FROM_SOURCE ? 'apps/node-agent/src/main.ts' : 'apps/node-agent/dist/main.js',
);
const VPNCTL_MAIN = path.join(
  ROOT,
  FROM_SOURCE ? 'apps/client-cli/src/index.ts' : 'apps/client-cli/dist/index.js',
);
/** The built binaries the benchmark runs (and what builds them). */
export const BUILT = [NODE_AGENT_MAIN, VPNCTL_MAIN];
export const BUILD_FILTERS = ['--filter', '@corridor/node-agent...', '--filter', '@corridor/client-cli...'];
const API_CALL = path.join(ROOT, 'test/bench/tunnel/fixtures/api-call.ts');
const NODE_ID = 'bench-1';
const CONTROLLER_PORT = 8443;
const UDP_PORT = 51820;
const TCP_PORT = 443;
/** The HTTPS front (tls + wss contenders); TCP keeps 443 here, so the front takes another port. */
const TLS_PORT = 4443;

const profileDir = process.env.CORRIDOR_BENCH_PROFILE;

function node(script: string, args: string[], profileName?: string): string[] {
  const prof =
    profileDir && profileName
      ? // One directory per process and Node's default file names (they carry pid and thread id): with
        // a fixed --cpu-prof-name the loader's worker thread would overwrite the main thread's profile.
        ['--cpu-prof', '--cpu-prof-dir', path.join(profileDir, `${profileName}-${Date.now()}`)]
      : [];
  const flags = profileName ? (process.env.CORRIDOR_BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []) : [];
  const loader = script.endsWith('.ts') ? ['--conditions=source', '--import', TSX] : [];
  return [process.execPath, ...prof, ...flags, ...loader, script, ...args];
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
  private readonly home: string;

  constructor(
    private readonly net: BenchNet,
    private readonly dir: string,
  ) {
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
          ...this.frontArgs(),
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
    const r = await this.vpnctl(
      ['login', '--server', this.url, '--pin', this.fingerprint, '--email', email, '--password-stdin'],
      password,
    );
    if (r.code !== 0) throw new Error(`vpnctl login: ${r.stderr}`);
  }

  /** The node's HTTPS front: a self-signed certificate whose fingerprint vpnctl pins (--tls-pin). */
  frontPin = '';
  private frontArgs(): string[] {
    const cert = path.join(this.dir, 'front-cert.pem');
    const key = path.join(this.dir, 'front-key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        '/CN=bench.example',
      ],
      { stdio: 'pipe' },
    );
    this.frontPin = new X509Certificate(readFileSync(cert)).fingerprint256;
    return ['--tls-listen', `${NODE_VETH_IP}:${TLS_PORT}`, '--tls-cert-file', cert, '--tls-key-file', key];
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
    private readonly transport: 'udp' | 'tcp' | 'tls' | 'wss',
  ) {
    this.id = `corridor-${transport}`;
    this.label = `Corridor ${transport.toUpperCase()}`;
  }

  async up(): Promise<void> {
    const { net, svc } = this;
    this.client = net.spawn(
      net.client,
      `vpnctl ${this.transport}`,
      node(
        VPNCTL_MAIN,
        [
          'connect',
          NODE_ID,
          '--transport',
          this.transport,
          '--no-dns',
          '--json',
          ...(this.transport === 'tls' || this.transport === 'wss'
            ? ['--tls-pin', svc.frontPin, '--tls-port', String(TLS_PORT)]
            : []),
        ],
        'vpnctl',
      ),
      svc.vpnctlEnv(),
    );
    const m = await this.client.waitFor(/^\{"state":"connected".*$/m, 90_000);
    const status = JSON.parse(m[0]) as Record<string, unknown>;
    const gw = JSON.stringify(status).match(/"gateway(?:IPv4)?":"([\d.]+)"/);
    if (gw?.[1]) this.serverIp = gw[1];
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
