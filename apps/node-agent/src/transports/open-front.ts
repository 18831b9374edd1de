/**
 * Opens the HTTPS front from the agent's configuration: reads the certificate and key files, wires the
 * initiation check (structure + mac1 keyed by this node's static public key) and maps failures to
 * CORRIDOR_ERR_* errors with a hint that names the fix.
 */
import { readFileSync } from 'node:fs';
import { MESSAGE_INITIATION, mac1Key, messageType, verifyMac1, type PaddingMode } from '@corridor/protocol';
import type { X25519KeyPair } from '@corridor/protocol';
import { AgentError } from '../agent.js';
import type { Logger } from '../log.js';
import type { FrontConfig } from './front-config.js';
import { TlsFront } from './tls-front.js';

function readPem(file: string, what: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new AgentError(
      'CORRIDOR_ERR_TLS_FILE',
      `cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      `check ${flag} (a PEM file readable by the agent)`,
    );
  }
}

export async function openFront(
  c: FrontConfig,
  padding: PaddingMode,
  keys: X25519KeyPair,
  maxSessions: number,
  log: Logger,
): Promise<TlsFront> {
  const cert = readPem(c.certFile, 'TLS certificate', '--tls-cert-file');
  const key = readPem(c.keyFile, 'TLS private key', '--tls-key-file');
  const mac1 = mac1Key(keys.publicKey);
  try {
    return await TlsFront.listen({
      host: c.host,
      port: c.port,
      cert,
      key,
      tlsFraming: true,
      wssPath: c.wssPath,
      fallback: c.fallback,
      padding,
      acceptsInitiation: (m) => messageType(m) === MESSAGE_INITIATION && verifyMac1(m, mac1),
      maxConnectionsPerAddress: Math.max(32, Math.min(maxSessions, 256)),
      log: (level, text) => (level === 'warn' ? log.warn(text) : log.debug(text)),
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
      throw new AgentError(
        'CORRIDOR_ERR_LISTEN',
        `cannot listen on TLS ${c.host}:${c.port}: ${err.message}`,
        'pick another --tls-listen (the tcp transport defaults to 443 too), or run as root / grant CAP_NET_BIND_SERVICE',
      );
    }
    throw new AgentError(
      'CORRIDOR_ERR_TLS_CERT',
      `the TLS certificate or key is not usable: ${err.message}`,
      'check --tls-cert-file / --tls-key-file: a PEM certificate and its matching private key',
    );
  }
}
