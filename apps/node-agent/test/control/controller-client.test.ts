// The controller client against a hostile HTTPS server of the test's own (loopback, real TLS with a
// certificate made by openssl): answers that never end, huge bodies, bad JSON.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControllerClient, ControllerError } from '../../src/control/controller-client.js';

const skip = existsSync('/usr/bin/openssl')
  ? undefined
  : 'openssl is not installed (apt-get install openssl)';
if (skip) console.warn(`[controller-client] skipping: ${skip}`);

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe.skipIf(skip !== undefined)('controller client against a hostile controller', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'corridor-ctl-client-'));
  const certFile = path.join(dir, 'cert.pem');
  let server: https.Server;
  let handler: Handler = (_q, s) => s.end('{}');
  let url: URL;
  const timers = new Set<NodeJS.Timeout>();

  beforeAll(async () => {
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
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        certFile,
      ],
      { stdio: 'ignore' },
    );
    server = https.createServer(
      { cert: readFileSync(certFile), key: readFileSync(path.join(dir, 'key.pem')) },
      (q, s) => handler(q, s),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });

  afterAll(async () => {
    for (const t of timers) clearInterval(t);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const client = (timeoutMs: number) =>
    new ControllerClient(url, { caFile: certFile, fingerprint: null }, timeoutMs);

  it('gives up on an answer that trickles in forever (the timeout bounds the whole request)', async () => {
    handler = (_q, s) => {
      s.writeHead(200, { 'content-type': 'application/json' });
      s.write('{');
      const t = setInterval(() => s.write(' '), 100);
      timers.add(t);
      s.on('close', () => clearInterval(t));
    };
    const c = client(600);
    const started = Date.now();
    const outcome = await Promise.race([
      c.signingKeys().then(
        () => 'answered',
        (err: unknown) => err,
      ),
      new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5000)),
    ]);
    c.close();
    expect(outcome).toBeInstanceOf(ControllerError);
    expect((outcome as ControllerError).kind).toBe('unreachable');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('refuses a huge body and a body that is not JSON, with clear errors', async () => {
    handler = (_q, s) => {
      s.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1 << 20, 0x20);
      let sent = 0;
      const more = (): void => {
        while (sent < 80 && s.write(chunk)) sent++;
        if (sent < 80) s.once('drain', more);
        else s.end();
      };
      more();
    };
    const c = client(10_000);
    await expect(c.signingKeys()).rejects.toThrow(/too large/);
    handler = (_q, s) => s.writeHead(200, { 'content-type': 'application/json' }).end('<html>');
    await expect(c.signingKeys()).rejects.toThrow(/not JSON/);
    handler = (_q, s) => s.writeHead(200, { 'content-type': 'application/json' }).end('{"version":"x"}');
    await expect(c.signingKeys()).rejects.toThrow(/does not match the agent API schema/);
    c.close();
  });
});
