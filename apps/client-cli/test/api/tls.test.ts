/**
 * TLS verification is never off, whatever the environment says: NODE_TLS_REJECT_UNAUTHORIZED=0
 * (left in a shell from some other tool, or carried along by `sudo -E`) turns Node's default
 * verification off for every request that does not ask for it explicitly — including the pin check,
 * which Node then only records instead of failing the connection.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest } from '../../src/api/http.js';

function selfSigned(dir: string, name: string): { key: string; cert: string; fingerprint256: string } {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.pem`);
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
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'pipe' },
  );
  const pem = readFileSync(cert, 'utf8');
  return {
    key: readFileSync(key, 'utf8'),
    cert: pem,
    fingerprint256: new X509Certificate(pem).fingerprint256,
  };
}

describe('TLS verification with NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment', () => {
  let dir: string;
  let server: https.Server;
  let url: string;
  let genuine: ReturnType<typeof selfSigned>;
  let impostor: ReturnType<typeof selfSigned>;
  const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vpnctl-tls-'));
    genuine = selfSigned(dir, 'genuine');
    impostor = selfSigned(dir, 'impostor');
    // The man in the middle: presents its own certificate.
    server = https.createServer({ key: impostor.key, cert: impostor.cert }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"stolen":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('a certificate other than the pinned one is refused as a certificate mismatch, naming both', async () => {
    // Not "not trusted, pin it": the user did pin, and a different certificate may be an interception.
    await expect(
      httpRequest({
        server: url,
        trust: { mode: 'pin', fingerprint256: genuine.fingerprint256, certPem: genuine.cert },
        method: 'GET',
        path: '/v1/me',
      }),
    ).rejects.toMatchObject({
      code: 'CORRIDOR_ERR_TLS_CERT_MISMATCH',
      message: expect.stringContaining(impostor.fingerprint256),
      details: { presented: impostor.fingerprint256, pinned: genuine.fingerprint256 },
    });
  });

  it('a certificate not signed by the given CA is still untrusted', async () => {
    await expect(
      httpRequest({
        server: url,
        trust: { mode: 'ca', caPem: genuine.cert, file: 'ca.pem' },
        method: 'GET',
        path: '/',
      }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^CORRIDOR_ERR_TLS_/) });
  });

  it('the system store does not trust a self-signed certificate either', async () => {
    await expect(
      httpRequest({ server: url, trust: { mode: 'system' }, method: 'GET', path: '/' }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^CORRIDOR_ERR_TLS_/) });
  });
});
