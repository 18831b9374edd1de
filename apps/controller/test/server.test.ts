/**
 * Connection-level behaviour over real TLS sockets (embedded mode, no external services): client
 * errors answered with a JSON body and `Connection: close` before the socket is closed cleanly, and
 * request timeouts that close connections which never finish their request.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type App } from '../src/app.js';
import { makeConfig, tempDir } from './helpers.js';

interface RawExchange {
  /** Everything the server sent, as text. */
  text: string;
  /** How the connection ended: the server closed it cleanly, reset it, or is still open. */
  ending: 'end' | 'reset' | 'open';
  ms: number;
}

/** Writes `chunks` over one TLS connection and collects the answer until close or `waitMs`. */
function rawExchange(port: number, ca: string, chunks: string[], waitMs: number): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let text = '';
    let settled = false;
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      for (const c of chunks) socket.write(c);
    });
    const finish = (ending: RawExchange['ending']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, ending, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish('open'), waitMs);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('end', () => finish('end'));
    socket.on('close', () => finish('end'));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET') finish('reset');
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(e);
      }
    });
  });
}

/** The last HTTP response in `text`: status, lower-cased headers and body. */
function lastResponse(text: string): { status: number; headers: Record<string, string>; body: string } {
  const start = text.lastIndexOf('HTTP/1.1 ');
  const [head, body = ''] = text.slice(start).split('\r\n\r\n', 2);
  const [statusLine, ...lines] = head!.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body };
}

describe('connection handling (embedded mode, real TLS)', () => {
  let app: App;
  let port: number;
  let ca: string;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir();
    app = await build(makeConfig({ CORRIDOR_DATA_DIR: tmp.dir, REQUEST_TIMEOUT_S: '2' }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
    ca = await readFile(app.tls.certFile, 'utf8');
  });
  afterAll(async () => {
    await app?.close();
    await tmp?.remove();
  });

  it('answers a bad request line on a keep-alive connection with JSON, Connection: close and a clean close', async () => {
    const res = await rawExchange(
      port,
      ca,
      ['GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n', 'NOT A REQUEST LINE\r\n\r\n'],
      5_000,
    );
    expect(res.text).toMatch(/^HTTP\/1\.1 200 /);
    const last = lastResponse(res.text);
    expect(last.status).toBe(400);
    expect(last.headers.connection).toBe('close');
    expect(JSON.parse(last.body)).toMatchObject({ statusCode: 400, code: 'CORRIDOR_ERR_VALIDATION' });
    expect(res.ending).toBe('end');
  });

  it('answers oversized headers with 431 and Connection: close', async () => {
    const res = await rawExchange(
      port,
      ca,
      [`GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
      5_000,
    );
    const last = lastResponse(res.text);
    expect(last.status).toBe(431);
    expect(last.headers.connection).toBe('close');
    expect(JSON.parse(last.body)).toMatchObject({ statusCode: 431, code: 'CORRIDOR_ERR_HEADERS_TOO_LARGE' });
    expect(res.ending).not.toBe('open');
  });

  it('closes a connection whose request never completes (request timeout) with 408', async () => {
    // Headers promise 100 body bytes; one arrives, then nothing.
    const res = await rawExchange(
      port,
      ca,
      [
        'POST /v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
      ],
      10_000,
    );
    expect(res.ending, 'the server must not hold the connection open').not.toBe('open');
    expect(res.ms).toBeLessThan(9_000);
    const last = lastResponse(res.text);
    expect(last.status).toBe(408);
    expect(last.headers.connection).toBe('close');
    expect(JSON.parse(last.body)).toMatchObject({ code: 'CORRIDOR_ERR_REQUEST_TIMEOUT' });
  });

  it('generates a self-signed leaf certificate that is not a CA', async () => {
    const cert = new X509Certificate(ca);
    expect(cert.ca).toBe(false);
    // Extended key usage: TLS server only.
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: ca }).toString();
    expect(text).toMatch(/CA:FALSE/);
    expect(text).not.toMatch(/Certificate Sign/);
  });
});
