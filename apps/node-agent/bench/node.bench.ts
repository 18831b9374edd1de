/**
 * `pnpm bench:node` — figures for the node agent (prints; asserts nothing). Loopback and in-memory
 * only; the controller runs on 127.0.0.1.
 *
 *   1. handshakes/s admitted on one core with valid tickets (full admission: mac1, DH x2, ticket
 *      signature + claims, address, response), vs. the goal of 3,000/s and vs. the bare protocol
 *      (ResponderTunnel accepting any ticket) as the reference;
 *   2. a flood of mac1-valid garbage initiations at ~50,000 packets/s from another process over UDP:
 *      the node's CPU share, cookie replies sent, and how long a valid client needs to connect;
 *   3. resident memory per idle session at 10,000 sessions;
 *   4. revocation latency admin-revoke -> session cut through the real controller, p50/p99.
 * Env: CORRIDOR_BENCH_QUICK=1 shrinks every part (smoke run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  InitiatorTunnel,
  ResponderTunnel,
  formatPublicKey,
  generateEd25519KeyPair,
  generateX25519KeyPair,
  signTicket,
  type Ed25519KeyPair,
  type X25519KeyPair,
} from '@corridor/protocol';
import { createMemoryTunPair } from '@corridor/tun/testing';
import { UdpBind, UdpEndpoint, createMemoryNetwork, type BindEndpoint } from '@corridor/tun/bind';
import { Engine } from '../src/tunnel/engine.js';
import { TrustStore } from '../src/control/trust.js';
import { ControllerClient } from '../src/control/controller-client.js';
import { ControlSync } from '../src/control/sync.js';
import { silentLogger } from '../src/log.js';

const QUICK = process.env.CORRIDOR_BENCH_QUICK === '1';
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const out = (s: string) => process.stdout.write(s + '\n');

function trustWith(signer: Ed25519KeyPair): TrustStore {
  const t = new TrustStore(null);
  t.setKeys(
    [
      {
        keyId: 1,
        publicKey: formatPublicKey('ed25519pub', signer.publicKey),
        notBefore: new Date(Date.now() - 3600_000).toISOString(),
        notAfter: new Date(Date.now() + 3600_000).toISOString(),
      },
    ],
    1,
  );
  return t;
}

function engineFor(
  nodeKeys: X25519KeyPair,
  trust: TrustStore,
  binds: ConstructorParameters<typeof Engine>[0]['binds'],
  maxSessions: number,
  cookieThreshold: number,
  perSourceRate = 1e9,
) {
  const [tun] = createMemoryTunPair({ names: ['bench0', 'bench1'] });
  return new Engine({
    nodeId: 'bench-1',
    staticKeys: nodeKeys,
    tun,
    binds,
    trust,
    subnet4: { network: '10.0.0.0', prefix: 16, gateway: '10.0.0.1' },
    subnet6: { network: 'fd00:b::', prefix: 64, gateway: 'fd00:b::1' },
    mtu: 1420,
    dnsServers: [],
    keepaliveSeconds: 25,
    isolation: true,
    maxSessions,
    handshakeRate: perSourceRate,
    handshakeBurst: perSourceRate === 1e9 ? 1e9 : 5,
    cookieThreshold,
  });
}

/** Initiations from `n` distinct clients with valid tickets for bench-1. */
function initiations(n: number, nodeKeys: X25519KeyPair, signer: Ed25519KeyPair): Buffer[] {
  const now = Math.floor(Date.now() / 1000);
  const msgs: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const keys = generateX25519KeyPair();
    const ticket = signTicket(
      {
        ticketId: randomUUID(),
        userId: randomUUID(),
        deviceId: randomUUID(),
        nodeId: 'bench-1',
        clientPublicKey: keys.publicKey,
        issuedAt: now - 10,
        expiresAt: now + 3600,
        limits: { bandwidthBytesPerSec: 0, dataQuotaBytes: 0 },
      },
      { keyId: 1, privateKey: signer.privateKey },
    );
    const c = new InitiatorTunnel({ staticKeys: keys, nodeStaticPublicKey: nodeKeys.publicKey, ticket });
    const r = c.connect();
    if (r.type !== 'writeToNetwork') throw new Error('initiation failed');
    msgs.push(Buffer.from(r.data));
  }
  return msgs;
}

function endpoints(n: number): BindEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    transport: 'memory' as const,
    address: `198.18.${(i >> 8) & 255}.${i & 255}`,
    port: 40000 + (i % 1000),
    key: `b${i}`,
  }));
}

function benchHandshakes(): void {
  const n = QUICK ? 300 : 3000;
  const warm = QUICK ? 100 : 300;
  const nodeKeys = generateX25519KeyPair();
  const signer = generateEd25519KeyPair();
  const network = createMemoryNetwork();
  const bind = network.bind('198.18.255.1', 51820);
  const msgs = initiations(n + warm, nodeKeys, signer);
  const eps = endpoints(n + warm);
  bind.sendTo = () => true; // responses are produced and counted; delivering them is not measured
  const scratch = Buffer.alloc(256);
  // Reference: the bare protocol (no ticket verification, no sessions) on the same initiations.
  const bare = () =>
    new ResponderTunnel({
      staticKeys: nodeKeys,
      authorize: () => ({
        ok: true,
        params: {
          clientIPv4: '10.0.0.2',
          clientIPv4Prefix: 16,
          gatewayIPv4: '10.0.0.1',
          clientIPv6: null,
          clientIPv6Prefix: 0,
          mtu: 1420,
          dnsServers: [],
          keepaliveSeconds: 25,
          bandwidthBytesPerSecond: 0,
          dataQuotaBytes: 0,
        },
      }),
      rateLimiter: { packetsPerSecond: 1e9, burst: 1e9 },
      underLoadInitiationsPerSecond: 1e9,
      maxPeers: n + warm + 10,
    });
  // Warm-up (JIT, sodium) of both on initiations the measured instances never see.
  const warmEngine = engineFor(nodeKeys, trustWith(signer), [bind], warm + 10, 1e9);
  const warmRef = bare();
  for (let i = n; i < n + warm; i++) {
    warmEngine.handleHandshake(msgs[i] as Buffer, eps[i] as BindEndpoint, bind, scratch);
    warmRef.decapsulate(msgs[i] as Buffer, { ip: '198.18.0.1', port: i }, scratch);
  }
  warmEngine.close();
  warmRef.close();
  // Measured in alternating chunks, so machine load drifts alike over both.
  const engine = engineFor(nodeKeys, trustWith(signer), [bind], n + 10, 1e9);
  const ref = bare();
  const source = { ip: '', port: 1 };
  let engineCpu = 0;
  let engineMs = 0;
  let refCpu = 0;
  let refMs = 0;
  let refOk = 0;
  const chunk = Math.ceil(n / 6);
  for (let from = 0; from < n; from += chunk) {
    const to = Math.min(n, from + chunk);
    let c0 = process.cpuUsage();
    let t0 = performance.now();
    for (let i = from; i < to; i++)
      engine.handleHandshake(msgs[i] as Buffer, eps[i] as BindEndpoint, bind, scratch);
    engineMs += performance.now() - t0;
    let c = process.cpuUsage(c0);
    engineCpu += (c.user + c.system) / 1e6;
    c0 = process.cpuUsage();
    t0 = performance.now();
    for (let i = from; i < to; i++) {
      source.ip = `198.18.0.${i & 255}`;
      if (ref.decapsulate(msgs[i] as Buffer, source, scratch).type === 'writeToNetwork') refOk++;
    }
    refMs += performance.now() - t0;
    c = process.cpuUsage(c0);
    refCpu += (c.user + c.system) / 1e6;
  }
  const perCpu = engine.handshakes / engineCpu;
  const refPerCpu = refOk / refCpu;
  out(
    `handshakes admitted (one core, valid tickets): ${perCpu.toFixed(0)} per CPU-second, ${((engine.handshakes / engineMs) * 1000).toFixed(0)}/s wall over ${engine.handshakes} (goal >= 3000 per core-second: ${(perCpu / 3000).toFixed(2)}x)`,
  );
  out(
    `  reference, bare ResponderTunnel accepting any ticket (same run, alternating chunks): ${refPerCpu.toFixed(0)} per CPU-second, ${((refOk / refMs) * 1000).toFixed(0)}/s wall -> full admission (ticket signature + claims, address, session) keeps ${((perCpu / refPerCpu) * 100).toFixed(0)}% of the protocol's rate`,
  );
  engine.close();
  ref.close();
}

interface FloodClient {
  address: string;
  startedAt: number;
  cookieMs: number;
  connectedMs: number;
  initiations: number;
  client: InitiatorTunnel;
  bind: UdpBind;
}

async function benchFlood(): Promise<void> {
  // The flood lasts until every valid client connected (plus a second), at most `seconds`: long
  // enough for several retransmissions (REKEY_TIMEOUT 5 s + jitter each) on a loaded machine, where
  // the kernel drops part of the flood — and of the clients' packets — before the node reads them.
  const seconds = QUICK ? 20 : 35;
  const nodeKeys = generateX25519KeyPair();
  const signer = generateEd25519KeyPair();
  const bind = UdpBind.open({ address: '127.0.0.1', gro: true });
  // The node's defaults: 20 initiations/s per source (burst 5), cookies above 1000 initiations/s.
  const engine = engineFor(nodeKeys, trustWith(signer), [bind], 1000, 1000, 20);
  // Garbage that passes mac1 (anyone who knows the node key can compute it): initiations with tickets
  // signed by an unknown key, from the flooder's one address.
  const rogue = generateEd25519KeyPair();
  const garbage = initiations(64, nodeKeys, rogue).map((b) => b.toString('base64'));
  const flooder = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', path.join(here, 'flood-sender.ts')],
    {
      cwd: root,
      env: {
        ...process.env,
        FLOOD_PORT: String(bind.localPort),
        FLOOD_PPS: '50000',
        FLOOD_SECONDS: String(seconds),
        FLOOD_MESSAGES: JSON.stringify(garbage),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let flooderOut = '';
  flooder.stdout?.on('data', (d: Buffer) => (flooderOut += d.toString()));
  const flooderDone = new Promise((r) => flooder.once('exit', r));
  const timer = setInterval(() => engine.tick(), 100); // the agent's timer loop (protocol timers)
  await new Promise((r) => setTimeout(r, 1000)); // flood under way
  const rx0 = bind.stats().rxPackets;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const needsCookie0 = engine.tunnel.drops.needsCookie;
  // Valid clients connect during the flood, each from its own loopback address as a real client has
  // its own (the per-source rate limit would otherwise count the flood against it), one per second.
  // Under load the node answers the first initiation with a cookie reply; the client's next
  // initiation (its retransmission, REKEY_TIMEOUT after the first) carries mac2 and is admitted.
  const clients: FloodClient[] = [];
  const node = UdpEndpoint.of('127.0.0.1', bind.localPort);
  // How many of each client's initiations the node actually read (the rest the kernel dropped).
  const reached = new Map<string, number>();
  const handle = engine.handleHandshake.bind(engine);
  engine.handleHandshake = (data, endpoint, b, scratch, replies) => {
    if (endpoint.address !== '127.0.0.1')
      reached.set(endpoint.address, (reached.get(endpoint.address) ?? 0) + 1);
    handle(data, endpoint, b, scratch, replies);
  };
  const startClient = (k: number): void => {
    const clientKeys = generateX25519KeyPair();
    const now = Math.floor(Date.now() / 1000);
    const ticket = signTicket(
      {
        ticketId: randomUUID(),
        userId: randomUUID(),
        deviceId: randomUUID(),
        nodeId: 'bench-1',
        clientPublicKey: clientKeys.publicKey,
        issuedAt: now - 5,
        expiresAt: now + 3600,
        limits: { bandwidthBytesPerSec: 0, dataQuotaBytes: 0 },
      },
      { keyId: 1, privateKey: signer.privateKey },
    );
    const address = `127.0.0.${2 + k}`;
    const c: FloodClient = {
      address,
      startedAt: performance.now(),
      cookieMs: -1,
      connectedMs: -1,
      initiations: 0,
      client: new InitiatorTunnel({
        staticKeys: clientKeys,
        nodeStaticPublicKey: nodeKeys.publicKey,
        ticket,
      }),
      bind: UdpBind.open({ address, gro: false }),
    };
    c.bind.onReceive((b) => {
      for (let i = 0; i < b.count; i++) {
        const d = b.datagram(i);
        if (d[0] === 3 && c.cookieMs < 0) c.cookieMs = performance.now() - c.startedAt;
        const r = c.client.decapsulate(d, Buffer.alloc(2048));
        if (r.type === 'handshakeComplete' && c.connectedMs < 0) {
          c.connectedMs = performance.now() - c.startedAt;
          c.bind.sendTo(r.data, node);
        }
      }
    });
    const init = c.client.connect();
    if (init.type === 'writeToNetwork') {
      c.initiations++;
      c.bind.sendTo(init.data, node);
    }
    clients.push(c);
  };
  const clientTimer = setInterval(() => {
    for (const c of clients) {
      const r = c.client.updateTimers();
      if (r.type === 'writeToNetwork') {
        if (r.data[0] === 1) c.initiations++;
        c.bind.sendTo(r.data, node);
      }
    }
  }, 50);
  for (let k = 0; k < 3; k++) {
    startClient(k);
    await new Promise((r) => setTimeout(r, 1000));
  }
  let exited = false;
  void flooderDone.then(() => (exited = true));
  while (!exited && clients.some((c) => c.connectedMs < 0)) await new Promise((r) => setTimeout(r, 100));
  if (!exited) {
    await new Promise((r) => setTimeout(r, 1000));
    flooder.kill('SIGTERM');
  }
  await flooderDone;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(timer);
  clearInterval(clientTimer);
  const received = bind.stats().rxPackets - rx0;
  const cookies = engine.tunnel.drops.needsCookie - needsCookie0;
  const cores = (cpu.user + cpu.system) / 1000 / ms;
  const sentPps = Number(/= (\d+) pkt\/s/.exec(flooderOut)?.[1] ?? NaN);
  const readPps = received / (ms / 1000);
  out(`flood of garbage initiations (${flooderOut.trim() || 'sender gave no figure'}):`);
  out(
    `  node read ${readPps.toFixed(0)} pkt/s (${Number.isFinite(sentPps) ? `${Math.max(0, 100 - (readPps / sentPps) * 100).toFixed(0)}% of what was sent dropped by the kernel before the node could read it` : 'sent rate unknown'}); node process CPU ${cores.toFixed(2)} cores (${((cores * 1e6) / (received / (ms / 1000))).toFixed(1)} µs per garbage packet); cookie replies ${cookies} (all batched: ${bind.stats().txPackets} sent in ${bind.socket.stats().txSyscalls} sendmmsg calls); rate-limited ${engine.tunnel.drops.rateLimited}; refused at admission ${Object.values(engine.rejects).reduce((a, b) => a + b, 0)}`,
  );
  const connected = clients.filter((c) => c.connectedMs >= 0).map((c) => c.connectedMs);
  out(
    `  valid clients during the flood: ${connected.length}/${clients.length} connected; time to connect ${clients
      .map((c) =>
        c.connectedMs >= 0
          ? `${(c.connectedMs / 1000).toFixed(2)} s (${c.cookieMs >= 0 ? `cookie reply after ${c.cookieMs.toFixed(0)} ms` : 'admitted without a cookie: the node was not in cookie mode yet'}, ${c.initiations} initiations sent, ${reached.get(c.address) ?? 0} read by the node)`
          : `NOT CONNECTED (cookie reply ${c.cookieMs >= 0 ? `after ${c.cookieMs.toFixed(0)} ms` : 'never'}, ${c.initiations} initiations sent, ${reached.get(c.address) ?? 0} read by the node; client drops ${JSON.stringify(Object.fromEntries(Object.entries(c.client.drops).filter(([, v]) => v > 0)))})`,
      )
      .join(
        '; ',
      )} — the retransmission with mac2 waits REKEY_TIMEOUT (5 s + jitter) after the first initiation, as in WireGuard`,
  );
  for (const c of clients) {
    c.client.close();
    await c.bind.close();
  }
  engine.close();
  await bind.close();
}

async function benchMemory(): Promise<void> {
  const n = QUICK ? 1000 : 10_000;
  const nodeKeys = generateX25519KeyPair();
  const signer = generateEd25519KeyPair();
  const msgs = initiations(n, nodeKeys, signer);
  const eps = endpoints(n);
  const network = createMemoryNetwork();
  const bind = network.bind('198.18.255.2', 51820);
  bind.sendTo = () => true;
  const gc = (globalThis as { gc?: () => void }).gc;
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      gc?.();
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const engine = engineFor(nodeKeys, trustWith(signer), [bind], n + 10, 1e9);
  await settle();
  // The initiations and endpoints stay alive across both readings, so freeing them cannot hide
  // session memory; only what the handshakes created is counted.
  const before = process.memoryUsage();
  const scratch = Buffer.alloc(256);
  for (let i = 0; i < n; i++)
    engine.handleHandshake(msgs[i] as Buffer, eps[i] as BindEndpoint, bind, scratch);
  // Idle, as in a running agent: the timer loop has run (it sweeps refilled handshake rate-limit
  // buckets once a second); no traffic.
  await new Promise((r) => setTimeout(r, 1100));
  engine.tick();
  await settle();
  const after = process.memoryUsage();
  const sessions = engine.sessions.size;
  const perRss = (after.rss - before.rss) / sessions;
  const perHeap = (after.heapUsed - before.heapUsed) / sessions;
  const perExternal = (after.external - before.external) / sessions;
  out(
    `memory per idle session at ${sessions} sessions: RSS ${(perRss / 1024).toFixed(2)} KiB (goal <= 4 KiB: ${(perRss / 4096).toFixed(2)}x), JS heap ${(perHeap / 1024).toFixed(2)} KiB + external ${(perExternal / 1024).toFixed(2)} KiB (gc ${gc ? 'forced' : 'not exposed'}; ${msgs.length + eps.length} fixtures kept alive)`,
  );
  engine.close();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function benchRevocation(): Promise<void> {
  const rounds = QUICK ? 5 : 30;
  const cli = path.join(root, 'apps/controller/dist/cli.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'corridor-bench-node-'));
  const port = await freePort();
  const adminPassword = randomBytes(12).toString('base64url');
  // The embedded database can be slow to start on a loaded machine: a few attempts.
  let child!: ChildProcess;
  for (let attempt = 1; ; attempt++) {
    child = spawn(process.execPath, [cli, 'serve'], {
      env: {
        ...process.env,
        NODE_ENV: 'development',
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'warn',
        CORRIDOR_DATA_DIR: dir,
        CORRIDOR_ADMIN_EMAIL: 'admin@bench.test',
        CORRIDOR_ADMIN_PASSWORD: adminPassword,
        DATABASE_URL: '',
        REDIS_URL: '',
        NODE_LIVENESS_TTL_S: '3600',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        let err = '';
        child.stderr?.on('data', (d: Buffer) => {
          err += d.toString();
          if (/Fingerprint=/.test(err)) resolve();
        });
        child.once('exit', (code) => reject(new Error(`controller exited ${code}: ${err}`)));
      });
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
      out(`  (controller did not start, attempt ${attempt}: retrying)`);
    }
  }
  try {
    const ca = readFileSync(path.join(dir, 'tls-cert.pem'), 'utf8');
    const fingerprint = new X509Certificate(ca).fingerprint256;
    const agent = new https.Agent({ ca, checkServerIdentity: () => undefined, keepAlive: true });
    const base = `https://127.0.0.1:${port}`;
    const call = <T>(method: string, p: string, body?: unknown, token?: string): Promise<T> =>
      new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = https.request(
          new URL(p, base),
          {
            method,
            agent,
            headers: {
              ...(payload ? { 'content-type': 'application/json' } : {}),
              ...(token ? { authorization: `Bearer ${token}` } : {}),
            },
          },
          (res) => {
            let t = '';
            res.on('data', (c: Buffer) => (t += c.toString()));
            res.on('end', () =>
              (res.statusCode ?? 500) >= 400
                ? reject(new Error(`${p} ${res.statusCode} ${t}`))
                : resolve((t ? JSON.parse(t) : undefined) as T),
            );
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    let admin = '';
    for (let i = 0; ; i++) {
      try {
        admin = (
          await call<{ accessToken: string }>('POST', '/v1/auth/login', {
            email: 'admin@bench.test',
            password: adminPassword,
          })
        ).accessToken;
        break;
      } catch (err) {
        if (i > 60) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const created = await call<{ enrollmentToken: string }>(
      'POST',
      '/v1/admin/nodes',
      {
        id: 'bench-1',
        region: 'lab',
        country: 'DE',
        city: 'Bench',
        endpoint: { host: '127.0.0.1', udpPort: 51820, tcpPort: 443 },
      },
      admin,
    );
    const nodeKeys = generateX25519KeyPair();
    const client = new ControllerClient(new URL(base), { caFile: null, fingerprint });
    const enrolled = await client.enroll(
      created.enrollmentToken,
      formatPublicKey('x25519pub', nodeKeys.publicKey),
      '0.1.0',
    );
    client.credential = { nodeId: 'bench-1', secret: enrolled.nodeCredential };
    const trust = new TrustStore(null);
    trust.setKeys(enrolled.signingKeys, -1);
    const network = createMemoryNetwork();
    const bind = network.bind('198.18.255.3', 51820);
    const engine = engineFor(nodeKeys, trust, [bind], 100, 1e9);
    const password = randomBytes(12).toString('base64url');
    await call('POST', '/v1/admin/users', { email: 'u@bench.test', password }, admin);
    const user = (
      await call<{ accessToken: string }>('POST', '/v1/auth/login', { email: 'u@bench.test', password })
    ).accessToken;
    const devKeys = generateX25519KeyPair();
    const dev = await call<{ id: string }>(
      'POST',
      '/v1/devices',
      { name: 'bench', publicKey: formatPublicKey('x25519pub', devKeys.publicKey) },
      user,
    );
    let cutAt = 0;
    engine.onSessionEvent = (kind, _s, reason) => {
      if (kind === 'end' && reason === 'revoked') cutAt = performance.now();
    };
    let clientPort = 40000;
    // One measurement series: the node's control loop with `waitSeconds` (0 = plain polling).
    const series = async (waitSeconds: number, n: number) => {
      const sync = new ControlSync(
        client,
        trust,
        engine,
        {
          heartbeatSeconds: 5,
          revocationWaitSeconds: waitSeconds,
          revocationPollSeconds: 1,
          agentVersion: '0.1.0',
        },
        silentLogger,
      );
      sync.start();
      await new Promise((r) => setTimeout(r, 1500));
      const latencies: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = await call<{ ticket: string; ticketId: string }>(
          'POST',
          '/v1/nodes/bench-1/tickets',
          { deviceId: dev.id },
          user,
        );
        const cbind = network.bind('198.18.254.1', clientPort++);
        const c = new InitiatorTunnel({
          staticKeys: devKeys,
          nodeStaticPublicKey: nodeKeys.publicKey,
          ticket: Buffer.from(t.ticket, 'base64url'),
        });
        const done = new Promise<void>((resolve) =>
          cbind.onReceive((b) => {
            for (let k = 0; k < b.count; k++)
              if (c.decapsulate(b.datagram(k), Buffer.alloc(2048)).type === 'handshakeComplete') resolve();
          }),
        );
        const init = c.connect();
        if (init.type === 'writeToNetwork') cbind.sendTo(init.data, network.endpoint('198.18.255.3', 51820));
        await done;
        cutAt = 0;
        const t0 = performance.now();
        await call('POST', `/v1/admin/tickets/${t.ticketId}/revoke`, undefined, admin);
        while (cutAt === 0 && performance.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 2));
        latencies.push(cutAt === 0 ? Infinity : cutAt - t0);
        c.close();
        await cbind.close();
        await new Promise((r) => setTimeout(r, Math.random() * 300));
      }
      await sync.stop();
      latencies.sort((a, b) => a - b);
      const q = (p: number) =>
        latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)] as number;
      return {
        p50: q(0.5),
        p99: q(0.99),
        n,
        byLongPoll: sync.stats.newsByLongPoll,
        byPoll: sync.stats.newsByPoll,
      };
    };
    const long = await series(25, rounds);
    const plain = await series(0, QUICK ? 3 : 10);
    out(
      `revocation latency admin-revoke -> session cut, through the long poll (${long.n} rounds; ${long.byLongPoll} revocations arrived by long poll, ${long.byPoll} by plain polls): p50 ${long.p50.toFixed(0)} ms, p99 ${long.p99.toFixed(0)} ms (requirement <= 2000 ms: p99 ${(long.p99 / 2000).toFixed(3)}x)`,
    );
    out(
      `  reference, plain polling every 1 s (${plain.n} rounds): p50 ${plain.p50.toFixed(0)} ms, p99 ${plain.p99.toFixed(0)} ms -> the long poll cuts ${(plain.p50 / Math.max(1, long.p50)).toFixed(1)}x faster at p50`,
    );
    engine.close();
    client.close();
    agent.destroy();
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(undefined)));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  out(
    `corridor node agent benchmark — load: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (${os.cpus().length} cores)${QUICK ? ' [quick]' : ''}`,
  );
  const only = process.env.CORRIDOR_BENCH_ONLY?.split(',');
  const want = (name: string) => only === undefined || only.includes(name);
  if (want('handshakes')) benchHandshakes();
  if (want('flood')) await benchFlood();
  if (want('memory')) await benchMemory();
  if (want('revocation')) await benchRevocation();
  out(
    `load after: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
    process.exit(1);
  },
);
