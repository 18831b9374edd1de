/**
 * The quick-start main job: Corridor end to end on embedded defaults, on this machine only.
 *
 * 1. Starts the real controller process (`corridor-controller serve`) with no DATABASE_URL and no
 *    REDIS_URL: embedded PostgreSQL (PGlite) and the in-process store, a self-signed TLS pair.
 * 2. Talks to it over HTTPS, trusting exactly that certificate and checking its pinned SHA-256
 *    fingerprint: admin login, a node is created and enrolled with its X25519 static key, a user
 *    and a device are registered, the user gets a signed node ticket.
 * 3. Runs the data plane over real UDP sockets on loopback: the client (Noise IK initiator) carries
 *    the ticket in its first message, the node verifies it offline against the controller's
 *    signing keys, assigns tunnel parameters, and inner IPv4 packets go through the encrypted
 *    tunnel both ways. The node then heartbeats its session byte counts, which the admin API shows.
 *
 * Only loopback is used. Kernel TUN devices, routing and NAT belong to the node agent and client
 * (`apps/node-agent`, `vpnctl connect`); until they land, the inner packets are produced and
 * consumed here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  InitiatorTunnel,
  ResponderTunnel,
  formatPublicKey,
  generateX25519KeyPair,
  parseTicketSigningKeys,
  verifyTicket,
  type TicketSigningKey,
  type TunnelParams,
} from '@corridor/protocol';
import { exampleTunnelParams } from '@corridor/protocol/testing';
import { buildIpv4Udp, parseIpv4Udp } from '@corridor/tun/testing';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = path.resolve(process.env.CORRIDOR_DEMO_DIR ?? path.join(root, '.data', 'demo'));

const step = (n: number, text: string) => process.stdout.write(`\n[${n}] ${text}\n`);
const info = (text: string) => process.stdout.write(`    ${text}\n`);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

interface Api {
  call<T>(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<T>;
}

/** HTTPS client that trusts only the controller's certificate and checks its fingerprint. */
function apiClient(baseUrl: string, caPem: string, fingerprint256: string): Api {
  const agent = new https.Agent({
    ca: caPem,
    checkServerIdentity: (_host, cert) => {
      if (cert.fingerprint256 !== fingerprint256) {
        return new Error(`controller certificate fingerprint ${cert.fingerprint256} is not the pinned one`);
      }
      return undefined;
    },
  });
  return {
    call<T>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
      return new Promise<T>((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = https.request(
          new URL(url, baseUrl),
          {
            method,
            agent,
            headers: {
              ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
              ...headers,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              const json = text === '' ? undefined : (JSON.parse(text) as unknown);
              if ((res.statusCode ?? 500) >= 400) {
                reject(new Error(`${method} ${url} -> ${res.statusCode}: ${text}`));
              } else {
                resolve(json as T);
              }
            });
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    },
  };
}

function startController(port: number, adminPassword: string): { child: ChildProcess; ready: Promise<void> } {
  const cli = path.join(root, 'apps/controller/dist/cli.js');
  const child = spawn(process.execPath, [cli, 'serve'], {
    cwd: dataDir,
    env: {
      ...process.env,
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      CORRIDOR_DATA_DIR: path.join(dataDir, 'controller'),
      CORRIDOR_ADMIN_EMAIL: 'admin@corridor.test',
      CORRIDOR_ADMIN_PASSWORD: adminPassword,
      DATABASE_URL: '',
      REDIS_URL: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = (text: string) => text.replace(/^(?=.)/gm, '    controller: ');
  child.stdout!.on('data', (c: Buffer) => process.stdout.write(prefix(c.toString())));
  const ready = new Promise<void>((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      const text = c.toString();
      stderr += text;
      process.stderr.write(prefix(text));
      if (/Fingerprint=/.test(stderr)) resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`controller exited with code ${code} before it was ready`)),
    );
  });
  return { child, ready };
}

async function waitHealthy(api: Api): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await api.call('GET', '/readyz');
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error('controller did not become ready in 20 s');
}

function udpSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

async function main(): Promise<void> {
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const adminPassword = randomBytes(18).toString('base64url');
  writeFileSync(path.join(dataDir, 'admin-password'), adminPassword + '\n', { mode: 0o600 });

  step(1, 'controller: embedded PostgreSQL + in-process store, self-signed TLS');
  const port = await freePort();
  const { child, ready } = startController(port, adminPassword);
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
  };
  process.once('exit', stop);
  try {
    await ready;
    const certPem = readFileSync(path.join(dataDir, 'controller', 'tls-cert.pem'), 'utf8');
    const fingerprint = new X509Certificate(certPem).fingerprint256;
    const base = `https://127.0.0.1:${port}`;
    const api = apiClient(base, certPem, fingerprint);
    await waitHealthy(api);
    info(`listening on ${base}, certificate pinned by SHA-256 ${fingerprint.slice(0, 23)}...`);

    step(2, 'admin logs in, creates node demo-1 and a user');
    const admin = await api.call<{ accessToken: string }>('POST', '/v1/auth/login', {
      email: 'admin@corridor.test',
      password: adminPassword,
    });
    const asAdmin = { authorization: `Bearer ${admin.accessToken}` };
    const nodeUdp = await udpSocket();
    const nodePort = (nodeUdp.address() as AddressInfo).port;
    const created = await api.call<{ enrollmentToken: string }>(
      'POST',
      '/v1/admin/nodes',
      {
        id: 'demo-1',
        region: 'eu-central',
        country: 'DE',
        city: 'Frankfurt',
        endpoint: { host: '127.0.0.1', udpPort: nodePort, tcpPort: nodePort },
      },
      asAdmin,
    );
    const userPassword = randomBytes(18).toString('base64url');
    await api.call(
      'POST',
      '/v1/admin/users',
      { email: 'alice@corridor.test', password: userPassword },
      asAdmin,
    );
    info('node demo-1 created with a one-time enrollment token; user alice@corridor.test created');

    step(3, 'node enrolls with its X25519 static key and caches the signing keys');
    const nodeKeys = generateX25519KeyPair();
    const enrolled = await api.call<{
      nodeId: string;
      nodeCredential: string;
      signingKeys: { keyId: number; publicKey: string; notBefore: string; notAfter: string }[];
    }>('POST', '/v1/agent/enroll', {
      enrollmentToken: created.enrollmentToken,
      publicKey: formatPublicKey('x25519pub', nodeKeys.publicKey),
      agentVersion: 'demo',
    });
    const parsedKeys = parseTicketSigningKeys(enrolled.signingKeys);
    if (!parsedKeys.ok) throw new Error(`controller sent unusable signing keys: ${parsedKeys.error}`);
    const signingKeys = parsedKeys.value;
    const asNode = { authorization: `Node ${enrolled.nodeId}:${enrolled.nodeCredential}` };
    await api.call('POST', '/v1/agent/heartbeat', heartbeat(0, []), asNode);
    info(`enrolled; ${signingKeys.size} signing key(s) cached; heartbeat sent (node online)`);

    step(4, 'alice logs in, registers her device key, lists nodes and gets a ticket');
    const alice = await api.call<{ accessToken: string }>('POST', '/v1/auth/login', {
      email: 'alice@corridor.test',
      password: userPassword,
    });
    const asAlice = { authorization: `Bearer ${alice.accessToken}` };
    const deviceKeys = generateX25519KeyPair();
    const device = await api.call<{ id: string }>(
      'POST',
      '/v1/devices',
      { name: 'laptop', publicKey: formatPublicKey('x25519pub', deviceKeys.publicKey) },
      asAlice,
    );
    const nodes = await api.call<{ nodes: { id: string; online: boolean }[] }>(
      'GET',
      '/v1/nodes?region=eu-central',
      undefined,
      asAlice,
    );
    info(
      `nodes in eu-central: ${nodes.nodes.map((n) => `${n.id} (${n.online ? 'online' : 'offline'})`).join(', ')}`,
    );
    const ticket = await api.call<{ ticket: string; ticketId: string; node: { publicKey: string } }>(
      'POST',
      '/v1/nodes/demo-1/tickets',
      { deviceId: device.id },
      asAlice,
    );
    const ticketBytes = Buffer.from(ticket.ticket, 'base64url');
    info(`ticket ${ticket.ticketId}: ${ticketBytes.length} bytes, Ed25519-signed`);

    step(5, 'data plane: Noise IK over UDP on loopback, ticket verified offline by the node');
    const sessions = await runDataPlane({
      nodeUdp,
      nodeKeys,
      deviceKeys,
      ticketBytes,
      signingKeys,
    });

    step(6, 'node reports session bytes; the admin API shows usage');
    await api.call(
      'POST',
      '/v1/agent/heartbeat',
      heartbeat(1, [
        {
          ticketId: ticket.ticketId,
          deviceId: device.id,
          userId: sessions.userId,
          rxBytes: sessions.rxBytes,
          txBytes: sessions.txBytes,
          connectedAt: new Date(sessions.connectedAt).toISOString(),
        },
      ]),
      asNode,
    );
    const active = await api.call<{ items: unknown[] }>(
      'GET',
      '/v1/admin/sessions?active=true',
      undefined,
      asAdmin,
    );
    info(`admin sees ${active.items.length} active session(s): ${JSON.stringify(active.items[0])}`);

    process.stdout.write('\nCorridor demo: OK\n');
    process.stdout.write(`(admin password and data in ${dataDir}; rerun to start fresh)\n`);
  } finally {
    stop();
    await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(undefined)));
  }
}

function heartbeat(activeSessions: number, sessions: unknown[]) {
  return { protocolVersion: 1, agentVersion: 'demo', load: activeSessions / 100, activeSessions, sessions };
}

interface DataPlaneInput {
  nodeUdp: Socket;
  nodeKeys: ReturnType<typeof generateX25519KeyPair>;
  deviceKeys: ReturnType<typeof generateX25519KeyPair>;
  ticketBytes: Buffer;
  signingKeys: Map<number, TicketSigningKey>;
}

async function runDataPlane(input: DataPlaneInput) {
  const { nodeUdp, nodeKeys, deviceKeys, ticketBytes, signingKeys } = input;
  let userId = '';
  const node = new ResponderTunnel({
    staticKeys: nodeKeys,
    authorize: (ticketRaw, clientKey): { ok: true; params: TunnelParams } | { ok: false; reason: string } => {
      const v = verifyTicket(ticketRaw, {
        keys: signingKeys,
        nodeId: 'demo-1',
        clientPublicKey: clientKey,
        nowMs: Date.now(),
      });
      if (!v.ok) return { ok: false, reason: v.reason };
      userId = v.claims.userId;
      return {
        ok: true,
        params: exampleTunnelParams({
          keepaliveSeconds: 25,
          bandwidthBytesPerSecond: v.claims.limits.bandwidthBytesPerSec,
          dataQuotaBytes: v.claims.limits.dataQuotaBytes,
        }),
      };
    },
  });
  const client = new InitiatorTunnel({
    staticKeys: deviceKeys,
    nodeStaticPublicKey: nodeKeys.publicKey,
    ticket: ticketBytes,
  });
  const clientUdp = await udpSocket();
  const nodeAddr = nodeUdp.address() as AddressInfo;
  const nodeOut = Buffer.alloc(2048);
  const clientOut = Buffer.alloc(2048);
  let rxBytes = 0;
  let txBytes = 0;

  // Node side: decrypt, "route" the inner packet (echo a UDP reply as a web host would), encrypt back.
  nodeUdp.on('message', (msg, rinfo) => {
    const r = node.decapsulate(msg, { ip: rinfo.address, port: rinfo.port }, nodeOut);
    if (r.type === 'writeToNetwork') nodeUdp.send(r.data, rinfo.port, rinfo.address);
    if (r.type === 'writeToTun') {
      rxBytes += r.data.length;
      const udp = parseIpv4Udp(r.data);
      if (!udp) return;
      const reply = buildIpv4Udp({
        src: udp.ip.dst,
        dst: udp.ip.src,
        srcPort: udp.dstPort,
        dstPort: udp.srcPort,
        payload: Buffer.from(`echo: ${Buffer.from(udp.payload).toString()}`),
      });
      txBytes += reply.length;
      const e = node.encapsulate(r.peer, reply, nodeOut);
      if (e.type === 'writeToNetwork') nodeUdp.send(e.data, rinfo.port, rinfo.address);
    }
  });

  const established = new Promise<TunnelParams>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('handshake timed out')), 5000);
    const replies: string[] = [];
    clientUdp.on('message', (msg) => {
      const r = client.decapsulate(msg, clientOut);
      if (r.type === 'handshakeComplete') {
        clientUdp.send(r.data, nodeAddr.port, nodeAddr.address);
        clearTimeout(timer);
        resolve(r.params);
      } else if (r.type === 'writeToTun') {
        const udp = parseIpv4Udp(r.data);
        if (udp) replies.push(Buffer.from(udp.payload).toString());
        if (replies.length === 3) repliesDone(replies);
      } else if (r.type === 'error') {
        info(`client dropped a message: ${r.reason}`);
      }
    });
  });
  let repliesDone: (r: string[]) => void = () => {};
  const repliesReceived = new Promise<string[]>((resolve) => (repliesDone = resolve));

  const connectedAt = Date.now();
  const init = client.connect();
  if (init.type !== 'writeToNetwork') throw new Error(`could not create initiation: ${JSON.stringify(init)}`);
  clientUdp.send(init.data, nodeAddr.port, nodeAddr.address);
  const params = await established;
  info(
    `handshake complete: client ${params.clientIPv4}/${params.clientIPv4Prefix} via ${params.gatewayIPv4}, MTU ${params.mtu}, DNS ${params.dnsServers.join(',')}`,
  );

  for (const word of ['hello', 'from', 'corridor']) {
    const inner = buildIpv4Udp({
      src: params.clientIPv4,
      dst: '198.51.100.80',
      srcPort: 40000,
      dstPort: 7,
      payload: Buffer.from(word),
    });
    const e = client.encapsulate(inner, clientOut);
    if (e.type !== 'writeToNetwork') throw new Error(`encapsulate failed: ${JSON.stringify(e)}`);
    clientUdp.send(Buffer.from(e.data), nodeAddr.port, nodeAddr.address);
  }
  const replies = await Promise.race([
    repliesReceived,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('no replies through the tunnel')), 5000),
    ),
  ]);
  info(`3 inner packets through the tunnel and back: ${replies.map((r) => JSON.stringify(r)).join(', ')}`);
  const drops = Object.entries(node.drops).filter(([, n]) => n > 0);
  info(`node drops: ${drops.length === 0 ? 'none' : JSON.stringify(Object.fromEntries(drops))}`);
  clientUdp.close();
  nodeUdp.close();
  client.close();
  node.close();
  return { userId, rxBytes, txBytes, connectedAt };
}

main().catch((e: unknown) => {
  process.stderr.write(`\nCorridor demo FAILED: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
