/**
 * TLS material: the configured cert/key pair, or (no files configured) a self-signed pair
 * generated once into the data dir. The SHA-256 fingerprint is printed in the same form as
 * `openssl x509 -noout -fingerprint -sha256` (`sha256 Fingerprint=AB:CD:...`) so clients can pin it.
 */
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { generate } from 'selfsigned';
import type { Config } from '../config.js';
import { ensureDataDir, restrictMode } from './data-dir.js';

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  /** `AB:CD:...` upper-case hex, colon separated (X509Certificate.fingerprint256). */
  readonly fingerprint256: string;
  readonly selfSigned: boolean;
  readonly generated: boolean;
  readonly certFile: string;
}

export async function loadTls(config: Config): Promise<TlsMaterial> {
  if (config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined) {
    const [cert, key] = await Promise.all([
      readFile(config.tlsCertFile, 'utf8'),
      readFile(config.tlsKeyFile, 'utf8'),
    ]);
    return {
      cert,
      key,
      fingerprint256: fingerprintOf(cert),
      selfSigned: false,
      generated: false,
      certFile: config.tlsCertFile,
    };
  }
  const certFile = path.join(config.dataDir, 'tls-cert.pem');
  const keyFile = path.join(config.dataDir, 'tls-key.pem');
  try {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    await restrictMode(keyFile);
    return { cert, key, fingerprint256: fingerprintOf(cert), selfSigned: true, generated: false, certFile };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await ensureDataDir(config.dataDir);
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: 'corridor-controller' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 825 * 86_400_000),
    extensions: [
      // A leaf, not a CA: clients trust exactly this certificate (as their CA file or by its
      // fingerprint); it must not be able to vouch for any other certificate.
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  await writeFile(keyFile, pems.private, { mode: 0o600 });
  await chmod(keyFile, 0o600);
  await writeFile(certFile, pems.cert, { mode: 0o644 });
  return {
    cert: pems.cert,
    key: pems.private,
    fingerprint256: fingerprintOf(pems.cert),
    selfSigned: true,
    generated: true,
    certFile,
  };
}

export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** The line operators and clients compare with `openssl x509 -noout -fingerprint -sha256 -in cert.pem`. */
export function opensslFingerprintLine(fingerprint256: string): string {
  return `sha256 Fingerprint=${fingerprint256}`;
}
