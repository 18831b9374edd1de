/**
 * Child processes for the deploy tests: output captured (bounded), stopped by their own pid
 * (SIGTERM, then SIGKILL after a grace period), free loopback ports, HTTPS requests pinned to
 * one certificate, and the TLS material docs/deploy.md tells operators to make.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { ROOT } from './paths.js';

const OUTPUT_LIMIT = 256 * 1024;

export class Proc {
  output = '';
  readonly exited: Promise<number | null>;
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const add = (b: Buffer) => {
      this.output += b.toString('utf8');
      if (this.output.length > OUTPUT_LIMIT) this.output = this.output.slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on('data', add);
    child.stderr?.on('data', add);
    // 'close', not 'exit': by then the output streams are drained, so `output` is complete.
    this.exited = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits until the output matches `re` (or fails with the output when the process exits or time runs out). */
  async waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.output);
      if (m) return m;
      if (!this.running) throw new Error(`${this.name} exited before ${re}:\n${this.output.slice(-3000)}`);
      if (Date.now() > deadline)
        throw new Error(`${this.name}: no ${re} within ${timeoutMs} ms:\n${this.output.slice(-3000)}`);
      await sleep(100);
    }
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export function start(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Proc {
  return new Proc(name, spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Node arguments that run a workspace TypeScript entry point from source, from any working directory. */
export function tsxArgs(entry: string): string[] {
  const loader = createRequire(path.join(ROOT, 'package.json')).resolve('tsx');
  return ['--conditions=source', '--import', pathToFileURL(loader).href, path.join(ROOT, entry)];
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A loopback TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface TlsPair {
  certFile: string;
  keyFile: string;
  fingerprint256: string;
}

/**
 * A self-signed leaf for `host`, made with the openssl command docs/deploy.md gives operators
 * (P-256, CA:FALSE, serverAuth, the name in subjectAltName).
 */
export function makeCertificate(dir: string, base: string, host: string): TlsPair {
  const certFile = path.join(dir, `${base}.pem`);
  const keyFile = path.join(dir, `${base}.pem.key`);
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-sha256',
      '-days',
      '825',
      '-nodes',
      '-subj',
      `/CN=${host}`,
      '-addext',
      `subjectAltName=DNS:${host}`,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'keyUsage=critical,digitalSignature',
      '-addext',
      'extendedKeyUsage=serverAuth',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { certFile, keyFile, fingerprint256: new X509Certificate(readFileSync(certFile)).fingerprint256 };
}

export interface Response {
  status: number;
  body: string;
  json: () => unknown;
  peerFingerprint: string;
}

/**
 * One HTTPS request to 127.0.0.1:`port` for `host`, verified against `caFile` with the name checked
 * (SNI and name check use `host`: what a client trusting the controller's certificate does). `localAddress` picks the source address.
 */
export function request(
  port: number,
  host: string,
  caFile: string,
  method: string,
  urlPath: string,
  options: { body?: unknown; headers?: Record<string, string>; localAddress?: string } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        servername: host,
        ca: readFileSync(caFile),
        method,
        path: urlPath,
        localAddress: options.localAddress,
        agent: false,
        timeout: 15_000,
        headers: {
          host,
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        const peerFingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            json: () => JSON.parse(body) as unknown,
            peerFingerprint,
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}
