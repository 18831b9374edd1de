/**
 * `pnpm demo`: the quick-start main job. Corridor as a user meets it, on this machine only.
 *
 * As root (the real thing):
 *   1. builds the netns lab (test/lab): a small internet of network namespaces with a controller host,
 *      two node hosts in regions eu and us, a client host, an echo web host that answers with the
 *      source address it sees, a region-locked web host (eu only) and a DNS resolver;
 *   2. starts the real controller (`corridor-controller serve`) on the controller host on embedded
 *      defaults: embedded PostgreSQL (PGlite) and the in-process store in <data dir>/controller, a
 *      self-signed certificate that every client pins by its SHA-256 fingerprint;
 *   3. declares two nodes and runs the real `corridor-node` on each node host (enrolled with a one-time
 *      token, kernel TUN, forwarding and NAT inside its namespace), creates the demo user;
 *   4. runs the real `vpnctl` on the client host: login, `connect auto --region eu`, then measures what
 *      a user would notice (egress address seen by the web host, transport, handshake time, latency,
 *      throughput of a short download, region-locked content) and `connect auto --region us`;
 *   5. prints the report, the admin dashboard's URL (on this machine's loopback, forwarded into the
 *      lab) and where the credentials are (files of mode 0600; passwords never printed);
 *   6. stays up until Ctrl-C (`--once`: exits after the report), then removes everything it made:
 *      processes, namespaces, interfaces, firewall rules. Also on a failure or a signal.
 * Without root: says so and runs the part that needs none (controller on loopback, nodes declared,
 * demo user, `vpnctl login` and `vpnctl nodes`).
 *
 * Nothing here touches the root namespace's routes, firewall or resolv.conf; every packet stays in
 * namespaces the lab made or on loopback. The data dir (<repo>/.data/demo, or $CORRIDOR_DEMO_DIR)
 * keeps the credentials, `report.json` and the logs of the last run; the next run starts afresh.
 *
 * The script only drives the binaries (apps/<app>/dist, built by `pnpm build`); it holds no logic of
 * the product.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  createLab,
  labSkipReason,
  REQUIRED_TOOLS,
  type Lab,
  type LabHost,
  type LabProcess,
} from '../test/lab/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = path.resolve(process.env.CORRIDOR_DEMO_DIR ?? path.join(root, '.data', 'demo'));
const TSX = path.join(root, 'node_modules/tsx/dist/esm/index.mjs');
const BIN = {
  controller: path.join(root, 'apps/controller/dist/cli.js'),
  node: path.join(root, 'apps/node-agent/dist/main.js'),
  vpnctl: path.join(root, 'apps/client-cli/dist/index.js'),
};
const ADMIN_EMAIL = 'admin@corridor.lab';
const DEMO_EMAIL = 'demo@corridor.lab';
const NODES = [
  { id: 'eu-1', host: 'node-eu', region: 'eu', country: 'DE', city: 'Frankfurt' },
  { id: 'us-1', host: 'node-us', region: 'us', country: 'US', city: 'New York' },
] as const;

const USAGE = `Usage: pnpm demo [--once]

Runs Corridor end to end on this machine: the controller, two node agents and vpnctl in a lab of
network namespaces (root needed; without root only the parts that need none run), prints what
happened, then stays up until Ctrl-C and removes everything it made.

Options:
  --once      exit (and clean up) right after the report
  -h, --help  show this help

Data: ${path.relative(root, dataDir) || '.'} (credentials mode 0600, report.json, logs of the last run)
`;

const say = (text = '') => process.stdout.write(`${text}\n`);
const step = (text: string) => say(`\n== ${text}`);
const info = (text: string) => say(`   ${text}`);

// ---- cleanup: everything made is undone in reverse order, on success, failure or a signal ----------

const undo: (() => Promise<void> | void)[] = [];
let stopping: Promise<void> | undefined;
/** The report was printed: a signal from now on is the normal way to stop (exit 0). */
let reported = false;
function cleanup(): Promise<void> {
  stopping ??= (async () => {
    while (undo.length > 0) {
      const f = undo.pop()!;
      try {
        // No step may hold the rest of the cleanup up.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.resolve().then(f),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('a cleanup step took over 30 s; going on')), 30_000);
          }),
        ]).finally(() => clearTimeout(timer));
      } catch (e) {
        process.stderr.write(`cleanup: ${(e as Error).message}\n`);
      }
    }
  })();
  return stopping;
}

let interrupted: ((sig: NodeJS.Signals) => void) | undefined;
let signalled = false;
const waitForSignal = new Promise<NodeJS.Signals>((resolve) => (interrupted = resolve));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    say(`\n${sig === 'SIGINT' ? 'Ctrl-C' : sig}: stopping Corridor and removing everything the demo made...`);
    signalled = true;
    interrupted?.(sig);
  });
}

// ---- HTTPS to the controller, trusting exactly its certificate ------------------------------------

interface Api {
  call<T>(method: string, url: string, body?: unknown, token?: string): Promise<T>;
}

function apiClient(baseUrl: string, certPem: string): Api {
  const fingerprint256 = new X509Certificate(certPem).fingerprint256;
  const agent = new https.Agent({
    ca: certPem,
    checkServerIdentity: (_host, cert) =>
      cert.fingerprint256 === fingerprint256
        ? undefined
        : new Error(`controller certificate ${cert.fingerprint256} is not the pinned one`),
  });
  return {
    call<T>(method: string, url: string, body?: unknown, token?: string) {
      return new Promise<T>((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = https.request(
          new URL(url, baseUrl),
          {
            method,
            agent,
            headers: {
              ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
              ...(token ? { authorization: `Bearer ${token}` } : {}),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              if ((res.statusCode ?? 500) >= 400)
                reject(new Error(`${method} ${url}: ${res.statusCode} ${text}`));
              else resolve((text === '' ? undefined : JSON.parse(text)) as T);
            });
          },
        );
        req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${url}: no answer in 30 s`)));
        req.on('error', reject);
        req.end(payload);
      });
    },
  };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Writes a secret to a file only its owner reads; the secret itself is never printed. */
function secretFile(name: string, value: string): string {
  const file = path.join(dataDir, name);
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

function freshDataDir(): void {
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
}

const rel = (p: string) => (p.startsWith(root + path.sep) ? path.relative(root, p) : p);
const controllerEnv = (adminPassword: string, host: string, port: number): NodeJS.ProcessEnv => ({
  ...process.env,
  NODE_ENV: 'development',
  HOST: host,
  PORT: String(port),
  LOG_LEVEL: 'warn',
  CORRIDOR_DATA_DIR: path.join(dataDir, 'controller'),
  CORRIDOR_ADMIN_EMAIL: ADMIN_EMAIL,
  CORRIDOR_ADMIN_PASSWORD: adminPassword,
  // Embedded defaults: no database or Redis server.
  DATABASE_URL: '',
  REDIS_URL: '',
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

interface Access {
  fingerprint: string;
  adminUrl: string;
  adminPasswordFile: string;
  demoPasswordFile: string;
}

/** Admin logs in, declares the two nodes, creates the demo user. Returns the enrollment tokens. */
async function declare(api: Api, adminPassword: string, endpoints: Record<string, string>) {
  const { accessToken } = await until('the controller accepts the admin login', 120_000, () =>
    api.call<{ accessToken: string }>('POST', '/v1/auth/login', {
      email: ADMIN_EMAIL,
      password: adminPassword,
    }),
  );
  const tokens: Record<string, string> = {};
  for (const n of NODES) {
    const r = await api.call<{ enrollmentToken: string }>(
      'POST',
      '/v1/admin/nodes',
      {
        id: n.id,
        region: n.region,
        country: n.country,
        city: n.city,
        endpoint: { host: endpoints[n.id], udpPort: 51820, tcpPort: 443 },
      },
      accessToken,
    );
    tokens[n.id] = r.enrollmentToken;
  }
  const demoPassword = randomBytes(12).toString('base64url');
  await api.call('POST', '/v1/admin/users', { email: DEMO_EMAIL, password: demoPassword }, accessToken);
  return { adminToken: accessToken, tokens, demoPassword };
}

function printAccess(s: Access, extra: string[] = []): void {
  step('Admin dashboard and credentials');
  info(`Admin dashboard: ${s.adminUrl}`);
  info(`  self-signed certificate, SHA-256 fingerprint ${s.fingerprint}`);
  info(`  (your browser will warn: compare the fingerprint, then accept it)`);
  info(`Admin:     ${ADMIN_EMAIL}, password in ${rel(s.adminPasswordFile)} (mode 0600)`);
  info(`Demo user: ${DEMO_EMAIL}, password in ${rel(s.demoPasswordFile)} (mode 0600)`);
  for (const l of extra) info(l);
}

// ---- as root: the lab ------------------------------------------------------------------------------

/** argv for a Node program inside the lab. */
const nodeArgv = (script: string, ...args: string[]) => [process.execPath, script, ...args];

async function withLab(once: boolean): Promise<void> {
  step('Building the lab: network namespaces for a controller, two nodes, a client and web hosts');
  const lab: Lab = await createLab({
    label: 'demo',
    hosts: [
      { name: 'resolver', role: 'resolver' },
      { name: 'controller', role: 'controller' },
      { name: 'node-eu', role: 'node', region: 'eu' },
      { name: 'node-us', role: 'node', region: 'us' },
      { name: 'client1', role: 'client' },
      { name: 'web', role: 'web-echo' },
      { name: 'geo-eu', role: 'web-geo', options: { allowRegions: ['eu'] } },
    ],
  });
  undo.push(() => lab.down());
  info(`lab ${lab.runId} up in ${(lab.buildMs / 1000).toFixed(1)} s (namespaces crl-${lab.runId}-*)`);
  for (const h of lab.hosts) info(`${h.name.padEnd(10)} ${h.v4.padEnd(15)} ${h.v6}`);
  const ctlHost = lab.host('controller');
  const client = lab.host('client1');
  const web = lab.host('web');
  const geo = lab.host('geo-eu');
  const resolver = lab.host('resolver');

  step('Controller: embedded PostgreSQL and in-process store, self-signed TLS');
  const adminPassword = randomBytes(18).toString('base64url');
  const adminPasswordFile = secretFile('admin-password', adminPassword);
  const controller = ctlHost.spawn(nodeArgv(BIN.controller, 'serve'), {
    name: 'controller',
    cwd: dataDir,
    env: controllerEnv(adminPassword, '0.0.0.0', 8443),
  });
  await controller.waitFor(/Fingerprint=/, { timeoutMs: 120_000 });
  const certPem = readFileSync(path.join(dataDir, 'controller', 'tls-cert.pem'), 'utf8');
  const fingerprint = new X509Certificate(certPem).fingerprint256;
  const controllerUrl = `https://${ctlHost.v4}:8443`;
  info(`listening on ${controllerUrl} inside the lab`);

  // The dashboard on this machine's loopback: 127.0.0.1:<port> -> Unix socket -> controller.
  const sock = path.join(dataDir, 'controller.sock');
  const relay = ctlHost.spawn(
    [
      process.execPath,
      '--import',
      TSX,
      path.join(root, 'scripts/lib/unix-relay.ts'),
      sock,
      '127.0.0.1',
      '8443',
    ],
    { name: 'relay' },
  );
  await relay.waitFor('relay ready', { timeoutMs: 30_000 });
  const open = new Set<net.Socket>();
  const forward = net.createServer((c) => {
    const up = net.connect(sock);
    open.add(c);
    c.once('close', () => open.delete(c));
    c.pipe(up).pipe(c);
    const end = () => {
      c.destroy();
      up.destroy();
    };
    c.on('error', end);
    up.on('error', end);
  });
  await new Promise<void>((r) => forward.listen(0, '127.0.0.1', r));
  undo.push(
    () =>
      new Promise<void>((r) => {
        forward.close(() => r());
        for (const c of open) c.destroy(); // kept-alive connections would hold close() forever
      }),
  );
  const localPort = (forward.address() as AddressInfo).port;
  const api = apiClient(`https://127.0.0.1:${localPort}`, certPem);
  info(`forwarded to this machine's loopback: https://127.0.0.1:${localPort}`);

  step(`Nodes: ${NODES.map((n) => `${n.id} (${n.region})`).join(' and ')} enroll and start`);
  const endpoints = Object.fromEntries(NODES.map((n) => [n.id, lab.host(n.host).v4]));
  const { adminToken, tokens, demoPassword } = await declare(api, adminPassword, endpoints);
  const demoPasswordFile = secretFile('demo-password', demoPassword);
  const agents: Record<string, LabProcess> = {};
  for (const n of NODES) {
    const host = lab.host(n.host);
    agents[n.id] = host.spawn(
      nodeArgv(
        BIN.node,
        'run',
        '--controller-url',
        controllerUrl,
        '--controller-fingerprint',
        fingerprint,
        '--node-id',
        n.id,
        '--enrollment-token',
        tokens[n.id]!,
        '--data-dir',
        path.join(dataDir, n.id),
        '--egress-interface',
        host.iface,
        '--udp-listen',
        '0.0.0.0:51820',
        '--tcp-listen',
        '0.0.0.0:443',
        '--dns-servers',
        resolver.v4,
        '--heartbeat-seconds',
        '2',
        '--metrics-listen',
        'off',
      ),
      { name: 'corridor-node' },
    );
  }
  await until('both nodes online', 120_000, async () => {
    for (const [id, p] of Object.entries(agents))
      if (!p.running) throw new Error(`corridor-node ${id} exited:\n${p.stderr()}${p.stdout()}`);
    const r = await api.call<{ nodes: { id: string; online: boolean }[] }>(
      'GET',
      '/v1/nodes',
      undefined,
      adminToken,
    );
    return NODES.every((n) => r.nodes.some((x) => x.id === n.id && x.online)) ? true : undefined;
  });
  for (const n of NODES)
    info(`${n.id}: ${n.city}, ${n.country}, public address ${lab.host(n.host).v4}, online`);

  step(`vpnctl on client1 (${client.v4}): login as ${DEMO_EMAIL}`);
  const home = path.join(dataDir, 'client1');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_STATE_HOME: path.join(home, 'state'),
    XDG_RUNTIME_DIR: path.join(home, 'run'),
    CORRIDOR_RESOLV_CONF: `/etc/netns/${client.ns}/resolv.conf`,
  };
  const vpnctl = (args: string[], input = '') =>
    client.exec(nodeArgv(BIN.vpnctl, ...args), { env, input, timeoutMs: 60_000 });
  undo.push(async () => {
    // Restores client1's routes and DNS (its namespace goes with the lab anyway); after a signal the
    // lab may already be gone, which is fine.
    await vpnctl(['disconnect']).catch(() => undefined);
  });
  const login = await vpnctl(
    ['login', '--server', controllerUrl, '--pin', fingerprint, '--email', DEMO_EMAIL, '--password-stdin'],
    demoPassword,
  );
  if (login.code !== 0) throw new Error(`vpnctl login failed: ${login.stderr}`);
  info(login.stderr.trim().split('\n').at(-1) ?? 'logged in');

  const direct = (await client.get(web.url('/'))).trim();
  const directPing = await pingAvg(client, web.v4);
  const directGeo = await client.fetch(geo.url('/'));
  const directDl = await download(client, web);

  const connect = async (region: string) => {
    const p = client.spawn(nodeArgv(BIN.vpnctl, 'connect', 'auto', '--region', region, '--json'), {
      name: `vpnctl-${region}`,
      env,
    });
    let initiated = 0;
    let connectedAt = 0;
    p.onLine((l) => {
      if (!initiated && /Handshaking with/.test(l.text)) initiated = performance.now();
      if (!connectedAt && l.stream === 'stdout' && l.text.startsWith('{"state":"connected"'))
        connectedAt = performance.now();
    });
    const line = await p.waitFor(/^\{"state":"connected"/, { timeoutMs: 60_000, stream: 'stdout' });
    const status = JSON.parse(line) as {
      node: { id: string; city: string; country: string; address: string };
      transport: string;
      address: { ipv4: string; ipv6: string | null };
      routing: { ipv6: string };
    };
    return { process: p, status, handshakeMs: connectedAt && initiated ? connectedAt - initiated : NaN };
  };

  step('vpnctl connect auto --region eu');
  const eu = await connect('eu');
  const euHost = lab.host('node-eu');
  info(
    `connected to ${eu.status.node.id} (${eu.status.node.city}) over ${eu.status.transport.toUpperCase()}`,
  );
  const seen = (await client.get(web.url('/'))).trim();
  const seen6 =
    eu.status.routing.ipv6 === 'tunnel' ? (await client.get(web.url('/', { family: 6 }))).trim() : null;
  lab.dns.clearEvents();
  const resolved = await client.exec(['getent', 'ahostsv4', 'web.lab']);
  const dnsViaTunnel =
    resolved.code === 0 &&
    lab.dns.queries().some((q) => q.name?.startsWith('web.lab') && q.from === euHost.v4);
  const tunnelPing = await pingAvg(client, web.v4);
  const tunnelDl = await download(client, web);
  const euGeo = await client.fetch(geo.url('/'));
  const statusEu = JSON.parse((await vpnctl(['status', '--json'])).stdout) as {
    bytes: { sent: number; received: number };
  };
  await vpnctl(['disconnect']);
  await eu.process.exited;

  step('vpnctl connect auto --region us');
  const us = await connect('us');
  const usSeen = (await client.get(web.url('/'))).trim();
  const usGeo = await client.fetch(geo.url('/'));

  const code = (r: Awaited<ReturnType<LabHost['fetch']>>) => (r.type === 'response' ? r.status : r.reason);
  const report = {
    client: { name: 'client1', address: client.v4 },
    direct: { egress: direct, latencyMs: directPing, throughputBytesPerSecond: directDl.bytesPerSecond },
    eu: {
      node: eu.status.node.id,
      nodeAddress: euHost.v4,
      nodeAddress6: euHost.v6,
      transport: eu.status.transport,
      tunnelAddress: eu.status.address.ipv4,
      handshakeMs: Math.round(eu.handshakeMs * 10) / 10,
      egress: seen,
      egress6: seen6,
      dnsViaTunnel,
      latencyMs: tunnelPing,
      download: tunnelDl,
      bytes: statusEu.bytes,
    },
    us: {
      node: us.status.node.id,
      nodeAddress: lab.host('node-us').v4,
      egress: usSeen,
      transport: us.status.transport,
    },
    regionLocked: { host: 'geo-eu.lab', direct: code(directGeo), viaEu: code(euGeo), viaUs: code(usGeo) },
    adminUrl: `https://127.0.0.1:${localPort}/admin`,
  };
  writeFileSync(path.join(dataDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');

  step('What happened');
  const mb = (bps: number) => `${((bps * 8) / 1e6).toFixed(0)} Mbit/s`;
  info(`Without the VPN the web host saw client1's own address: ${direct}.`);
  info(
    `Through ${report.eu.node} (eu) the web host sees ${seen}, the node's address, not the client's` +
      (seen6 ? `; over IPv6 it sees ${seen6}.` : '.'),
  );
  info(
    `Transport: ${report.eu.transport.toUpperCase()}, Noise IK handshake (ticket checked offline by the node).`,
  );
  info(`Handshake time: ${report.eu.handshakeMs.toFixed(1)} ms (first initiation to tunnel up).`);
  info(
    `Latency to the web host: ${fmtMs(tunnelPing)} through the tunnel, ${fmtMs(directPing)} without it (ping average of 5).`,
  );
  info(
    `Throughput of a ${tunnelDl.bytes / 2 ** 20} MiB download: ${mb(tunnelDl.bytesPerSecond)} through the tunnel, ` +
      `${mb(directDl.bytesPerSecond)} without it (one run; this machine is shared, figures vary).`,
  );
  info(
    dnsViaTunnel
      ? `DNS: client1's queries reach the resolver the node pushed (${resolver.v4}) from ${euHost.v4}: through the tunnel.`
      : `DNS: the query for web.lab did not go through the tunnel (see the logs in ${rel(lab.dir)}).`,
  );
  info(
    `Region-locked site geo-eu.lab (eu only): ${report.regionLocked.direct} without the VPN, ` +
      `${report.regionLocked.viaEu} through ${report.eu.node}, ${report.regionLocked.viaUs} through ${report.us.node}.`,
  );
  info(`Through ${report.us.node} (us) the web host sees ${usSeen}.`);
  info(`Report: ${rel(path.join(dataDir, 'report.json'))}`);

  printAccess({ fingerprint, adminUrl: report.adminUrl, adminPasswordFile, demoPasswordFile }, [
    `client1 is connected through ${report.us.node}; try it:`,
    `  ip netns exec ${client.ns} curl http://web.lab/`,
  ]);
  reported = true;
  if (once) return;
  say('\nCorridor is up. Press Ctrl-C to stop it and remove everything the demo made.');
  // The lab's own signal handler stops every process at once: only an unasked exit is news.
  const died = controller.exited.then((st) => {
    if (!signalled) say(`\nThe controller stopped by itself (${JSON.stringify(st)}); shutting down.`);
  });
  await Promise.race([waitForSignal, died]);
}

async function pingAvg(host: LabHost, to: string): Promise<number> {
  const r = await host.exec(['ping', '-n', '-q', '-c', '5', '-i', '0.2', '-W', '2', to]);
  const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  return m ? Number(m[1]) : NaN;
}

async function download(host: LabHost, web: LabHost): Promise<{ bytes: number; bytesPerSecond: number }> {
  const bytes = 16 * 2 ** 20;
  const r = await host.fetch(web.url(`/bytes/${bytes}`), { discardBody: true, timeoutMs: 60_000 });
  if (r.type !== 'response' || r.bytes !== bytes) throw new Error(`download failed: ${JSON.stringify(r)}`);
  return { bytes, bytesPerSecond: Math.round(r.bytesPerSecond) };
}

const fmtMs = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(2)} ms` : 'n/a');

// ---- without root: the parts that need none ---------------------------------------------------------

async function withoutRoot(once: boolean): Promise<void> {
  step('Controller on this machine’s loopback: embedded PostgreSQL and in-process store, self-signed TLS');
  const adminPassword = randomBytes(18).toString('base64url');
  const adminPasswordFile = secretFile('admin-password', adminPassword);
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [BIN.controller, 'serve'], {
    cwd: dataDir,
    env: controllerEnv(adminPassword, '127.0.0.1', port),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  undo.push(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  );
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (/Fingerprint=/.test(stderr)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the controller exited (${code}):\n${stderr}`)));
  });
  const certPem = readFileSync(path.join(dataDir, 'controller', 'tls-cert.pem'), 'utf8');
  const fingerprint = new X509Certificate(certPem).fingerprint256;
  const url = `https://127.0.0.1:${port}`;
  const api = apiClient(url, certPem);
  info(`listening on ${url}`);

  step('Admin declares two nodes (eu-1, us-1) and the demo user');
  const { demoPassword } = await declare(api, adminPassword, { 'eu-1': '127.0.0.1', 'us-1': '127.0.0.1' });
  const demoPasswordFile = secretFile('demo-password', demoPassword);
  info('the nodes stay offline: running corridor-node (kernel TUN, NAT) needs root');

  step(`vpnctl login as ${DEMO_EMAIL} and vpnctl nodes`);
  const home = path.join(dataDir, 'client');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_STATE_HOME: path.join(home, 'state'),
    XDG_RUNTIME_DIR: path.join(home, 'run'),
  };
  const run = (args: string[], input = '') =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [BIN.vpnctl, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let err = '';
      p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      p.stderr.on('data', (c: Buffer) => (err += c.toString()));
      p.on('close', (code) => resolve({ code, stdout, stderr: err }));
      p.stdin.end(input);
    });
  const login = await run(
    ['login', '--server', url, '--pin', fingerprint, '--email', DEMO_EMAIL, '--password-stdin'],
    demoPassword,
  );
  if (login.code !== 0) throw new Error(`vpnctl login failed: ${login.stderr}`);
  info(login.stderr.trim().split('\n').at(-1) ?? 'logged in');
  const nodes = await run(['nodes']);
  for (const l of nodes.stdout.trimEnd().split('\n')) info(l);

  printAccess({ fingerprint, adminUrl: `${url}/admin`, adminPasswordFile, demoPasswordFile });
  say('\nThe tunnel itself (network namespaces, TUN devices, routes, NAT) needs root: sudo pnpm demo');
  reported = true;
  if (once) return;
  say('\nThe controller is up. Press Ctrl-C to stop it.');
  await waitForSignal;
}

/** The lab's tools that are not installed, as a reason not to build it (or undefined). */
function missingTools(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  const missing = REQUIRED_TOOLS.filter((t) => !dirs.some((d) => existsSync(path.join(d, t))));
  return missing.length === 0
    ? undefined
    : `${missing.join(', ')} not installed (bash scripts/quickstart.sh installs them as root)`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { once: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  for (const [name, file] of Object.entries(BIN))
    if (!existsSync(file)) throw new Error(`${rel(file)} (${name}) is missing: run 'pnpm build' first`);
  freshDataDir();
  const once = values.once === true;
  const whyNot = labSkipReason() ?? missingTools();
  say('Corridor demo');
  let signal: NodeJS.Signals | undefined;
  void waitForSignal.then((s) => (signal = s));
  if (whyNot !== undefined) {
    say(`\nThe lab cannot run here: ${whyNot}.`);
    say('Running the parts that need no root.');
  }
  const job = whyNot === undefined ? withLab(once) : withoutRoot(once);
  // A signal during the setup ends the wait at once; the half-done job's own failure (its lab is
  // being removed under it) is then of no interest.
  job.catch(() => undefined);
  try {
    await Promise.race([job, waitForSignal]);
  } finally {
    await cleanup();
  }
  say('\nStopped; everything the demo made is removed.');
  return signal !== undefined && !reported ? 130 : 0;
}

main().then(
  (code) => process.exit(code),
  async (err: Error) => {
    process.stderr.write(`\ndemo failed: ${err.message}\n`);
    await cleanup();
    process.exit(1);
  },
);
