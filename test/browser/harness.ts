/**
 * Browser-test harness: the real controller process (built `apps/controller/dist`, serving the
 * built dashboard), an HTTPS client that trusts exactly its certificate, a stand-in node agent that
 * heartbeats sessions over the real agent API and ends them when the revocation feed says so, and
 * Debian's Chromium driven by playwright-core with the controller's key pinned (TLS verification
 * stays on; no `ignoreHTTPSErrors`).
 *
 * Everything listens on and talks to 127.0.0.1 only. Cleanup: `close()` on each piece, in
 * afterAll, also after failures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { formatPublicKey, generateX25519KeyPair } from '@corridor/protocol';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHROMIUM = '/usr/bin/chromium';
const CONTROLLER_CLI = path.join(ROOT, 'apps/controller/dist/cli.js');
const WEB_BUILD = path.join(ROOT, 'apps/controller/web/dist/index.html');

/** Flags for Chromium on these machines: no sandbox (root), and no background traffic at all. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };

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

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export class Api {
  private readonly agent: https.Agent;
  constructor(
    readonly base: string,
    cert: string,
  ) {
    const fingerprint = new X509Certificate(cert).fingerprint256;
    this.agent = new https.Agent({
      ca: cert,
      checkServerIdentity: (_host, peer) =>
        peer.fingerprint256 === fingerprint
          ? undefined
          : new Error('controller certificate is not the pinned one'),
    });
  }

  call<T>(
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        new URL(url, this.base),
        {
          method,
          agent: this.agent,
          headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...headers },
          timeout: 15_000,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : null;
            } catch {
              // HTML pages stay text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T, headers: res.headers });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async ok<T>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await this.call<T>(method, url, body, headers);
    if (res.status < 200 || res.status > 299)
      throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  async login(email: string, password: string): Promise<{ token: string; userId: string }> {
    const r = await this.ok<{ accessToken: string; user: { id: string } }>('POST', '/v1/auth/login', {
      email,
      password,
    });
    return { token: r.accessToken, userId: r.user.id };
  }
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export interface Controller {
  base: string;
  cert: string;
  /** base64 SHA-256 of the certificate's SubjectPublicKeyInfo, for Chromium's pin list. */
  spki: string;
  api: Api;
  output(): string;
  close(): Promise<void>;
}

/** Starts `corridor-controller serve` on a free loopback port (real PostgreSQL + Redis when given). */
export async function startController(): Promise<Controller> {
  for (const [file, what] of [
    [CONTROLLER_CLI, 'the controller build'],
    [WEB_BUILD, 'the dashboard build'],
  ] as const)
    if (!existsSync(file))
      throw new Error(`${file} is missing (${what}): run 'pnpm build' first (scripts/test.sh does)`);

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'corridor-browser-'));
  const port = await freePort();
  let dropDb: (() => Promise<void>) | undefined;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    CORRIDOR_DATA_DIR: dataDir,
    CORRIDOR_ADMIN_EMAIL: ADMIN.email,
    CORRIDOR_ADMIN_PASSWORD: ADMIN.password,
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    NODE_LIVENESS_TTL_S: '20',
  };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  if (process.env.DATABASE_URL_TEST && process.env.REDIS_URL_TEST) {
    const pg = (await import('pg')).default;
    const name = `corridor_t_${randomBytes(6).toString('hex')}`;
    const c = new pg.Client({ connectionString: process.env.DATABASE_URL_TEST });
    await c.connect();
    await c.query(`CREATE DATABASE ${name}`);
    await c.end();
    const url = new URL(process.env.DATABASE_URL_TEST);
    url.pathname = `/${name}`;
    env.DATABASE_URL = url.toString();
    env.REDIS_URL = process.env.REDIS_URL_TEST;
    env.REDIS_KEY_PREFIX = `corridor-browser:${randomBytes(4).toString('hex')}:`;
    dropDb = async () => {
      const d = new pg.Client({ connectionString: process.env.DATABASE_URL_TEST });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    };
  }

  let output = '';
  const child: ChildProcess = spawn(process.execPath, [CONTROLLER_CLI, 'serve'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const base = `https://127.0.0.1:${port}`;
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await dropDb?.().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    const certFile = path.join(dataDir, 'tls-cert.pem');
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`controller exited (${child.exitCode}):\n${output}`);
      if (Date.now() > deadline) throw new Error(`controller did not become ready:\n${output}`);
      if (existsSync(certFile)) {
        const cert = readFileSync(certFile, 'utf8');
        const api = new Api(base, cert);
        const ready = await api.call('GET', '/readyz').catch(() => null);
        if (ready?.status === 200) {
          const spki = createHash('sha256')
            .update(new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' }))
            .digest('base64');
          return { base, cert, spki, api, output: () => output, close };
        }
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (e) {
    await close();
    throw e;
  }
}

interface LiveSession {
  ticketId: string;
  deviceId: string;
  userId: string;
  rxBytes: number;
  txBytes: number;
  connectedAt: string;
}

/**
 * Plays a node agent over the real agent API: enrolls with an X25519 key, heartbeats every
 * `intervalMs` with growing per-session counters, and, like the real agent, drops sessions whose
 * ticket, device or user appears in the revocation feed and reports them as ended ('revoked').
 */
export class StandInNode {
  private readonly sessions = new Map<string, LiveSession>();
  private ended: (LiveSession & { endedAt: string; reason: 'revoked' | 'clientClosed' })[] = [];
  private cursor: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly auth: Record<string, string>;

  private constructor(
    private readonly api: Api,
    readonly id: string,
    credential: string,
  ) {
    this.auth = { authorization: `Node ${id}:${credential}` };
  }

  static async enroll(api: Api, enrollmentToken: string, id: string): Promise<StandInNode> {
    const publicKey = formatPublicKey('x25519pub', generateX25519KeyPair().publicKey);
    const r = await api.ok<{ nodeCredential: string }>('POST', '/v1/agent/enroll', {
      enrollmentToken,
      publicKey,
      agentVersion: '0.9.0-standin',
    });
    return new StandInNode(api, id, r.nodeCredential);
  }

  admit(s: { ticketId: string; deviceId: string; userId: string }): void {
    this.sessions.set(s.ticketId, { ...s, rxBytes: 0, txBytes: 0, connectedAt: new Date().toISOString() });
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.beat()).catch(() => {});
    }, intervalMs);
  }

  async beat(): Promise<void> {
    const rev = await this.api.ok<{ cursor: string; tickets: string[]; devices: string[]; users: string[] }>(
      'GET',
      `/v1/agent/revocations${this.cursor ? `?since=${encodeURIComponent(this.cursor)}` : ''}`,
      undefined,
      this.auth,
    );
    this.cursor = rev.cursor;
    for (const s of [...this.sessions.values()]) {
      if (
        rev.tickets.includes(s.ticketId) ||
        rev.devices.includes(s.deviceId) ||
        rev.users.includes(s.userId)
      ) {
        this.sessions.delete(s.ticketId);
        this.ended.push({ ...s, endedAt: new Date().toISOString(), reason: 'revoked' });
      }
    }
    for (const s of this.sessions.values()) {
      s.rxBytes += 40_000 + Math.floor(Math.random() * 10_000);
      s.txBytes += 350_000 + Math.floor(Math.random() * 100_000);
    }
    const ended = this.ended;
    this.ended = [];
    await this.api.ok(
      'POST',
      '/v1/agent/heartbeat',
      {
        protocolVersion: 1,
        agentVersion: '0.9.0-standin',
        load: 0.2 + 0.1 * this.sessions.size,
        activeSessions: this.sessions.size,
        sessions: [...this.sessions.values()],
        ...(ended.length ? { ended } : {}),
      },
      this.auth,
    );
  }

  get liveCount(): number {
    return this.sessions.size;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}

/** Chromium with a fresh profile, trusting exactly the controller's key. */
export async function openBrowser(
  spki: string,
  viewport = { width: 1366, height: 900 },
  timezoneId = 'UTC',
): Promise<{
  context: BrowserContext;
  close(): Promise<void>;
}> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'corridor-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spki}`],
    viewport,
    locale: 'en-US',
    timezoneId,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
