/**
 * How vpnctl trusts the controller's TLS certificate. Verification is never turned off; the three
 * trust modes only change what it is checked against:
 *
 *   system  the operating system's CA store and the host name (a publicly trusted certificate)
 *   ca      only the CA bundle the user gave with --ca, plus the host name
 *   pin     only the certificate whose SHA-256 fingerprint the user gave with --pin: that certificate
 *           (captured on first contact, after its fingerprint matched) is the sole trust anchor, and
 *           every connection checks the fingerprint again. The host name is not checked in this mode
 *           (the fingerprint names the exact certificate, which is stronger), so a self-signed
 *           controller reached by IP address works.
 *
 * `probeCertificate` is the one place that opens a connection without chain verification: it reads
 * the certificate the server presents (to compare it with a pin, or to show its fingerprint) and
 * closes the connection without sending a single byte of application data.
 */
import { timingSafeEqual, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import tls from 'node:tls';
import type { Trust } from '../config/store.js';

/** `AB:CD:...` (32 bytes, upper-case hex, colon separated), or null when `input` is not a SHA-256 fingerprint. */
export function normalizeFingerprint(input: string): string | null {
  let t = input.trim();
  t = t.replace(/^sha256\s*fingerprint\s*=\s*/i, '').replace(/^sha-?256[:/=\s]\s*/i, '');
  const hex = t.replace(/[:\s-]/g, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return null;
  return hex.toUpperCase().match(/../g)!.join(':');
}

export interface PresentedCertificate {
  readonly fingerprint256: string;
  readonly subject: string;
  readonly issuer: string;
  readonly validFrom: string;
  readonly validTo: string;
  readonly pem: string;
  readonly selfSigned: boolean;
}

function describe(cert: PeerCertificate): PresentedCertificate {
  const x = new X509Certificate(cert.raw);
  return {
    fingerprint256: x.fingerprint256,
    subject: x.subject.replace(/\n/g, ', '),
    issuer: x.issuer.replace(/\n/g, ', '),
    validFrom: x.validFrom,
    validTo: x.validTo,
    pem: x.toString(),
    selfSigned: x.checkIssued(x),
  };
}

/** The presented chain, leaf first (each certificate once). */
function chainOf(leaf: PeerCertificate): PeerCertificate[] {
  const chain: PeerCertificate[] = [];
  const seen = new Set<string>();
  let c: tls.DetailedPeerCertificate | undefined = leaf as tls.DetailedPeerCertificate;
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    chain.push(c);
    c = c.issuerCertificate;
  }
  return chain;
}

/**
 * Connects, reads the certificate chain the server presents, and disconnects without sending any
 * application data (see the header). Rejects with the socket error (ECONNREFUSED, ...).
 */
export function probeCertificate(
  host: string,
  port: number,
  timeoutMs = 10_000,
): Promise<PresentedCertificate[]> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      ...(tlsServername(host) ? { servername: host } : {}),
      // Probe only: nothing is sent and the result is only compared or shown (see the header).
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    socket.once('secureConnect', () => {
      const leaf = socket.getPeerCertificate(true);
      socket.destroy();
      if (!leaf || !leaf.raw) return reject(new Error('the server presented no certificate'));
      resolve(chainOf(leaf).map(describe));
    });
    socket.once('timeout', () =>
      socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    );
    socket.once('error', reject);
  });
}

/** SNI must not carry an IP literal. */
export function tlsServername(host: string): boolean {
  return !/^[0-9.]+$/.test(host) && !host.includes(':');
}

/** Raised from checkServerIdentity when a pinned certificate does not match. */
export class PinMismatchError extends Error {
  override readonly name = 'PinMismatchError';
  readonly code = 'CORRIDOR_PIN_MISMATCH';
  constructor(
    readonly expected: string,
    readonly presented: string,
  ) {
    super(`certificate fingerprint ${presented} does not match the pinned ${expected}`);
  }
}

/** Whether `a` and `b` are the same `AB:CD:...` SHA-256 fingerprint, compared in constant time. */
export function sameFingerprint(a: string, b: string): boolean {
  const x = Buffer.from(a.replace(/:/g, ''), 'hex');
  const y = Buffer.from(b.replace(/:/g, ''), 'hex');
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}

/**
 * TLS options for https.request / tls.connect under `trust`. `rejectUnauthorized` is always set:
 * left out, Node takes it from NODE_TLS_REJECT_UNAUTHORIZED, and "0" there would turn off the
 * chain check and make a failed pin check a mere note on the socket.
 */
export function tlsOptionsFor(trust: Trust): tls.ConnectionOptions {
  switch (trust.mode) {
    case 'system':
      return { rejectUnauthorized: true };
    case 'ca':
      return { ca: trust.caPem, rejectUnauthorized: true };
    case 'pin':
      return {
        rejectUnauthorized: true,
        ca: trust.certPem,
        // The pinned certificate may be a leaf signed by a CA we do not know: accept it as an anchor.
        allowPartialTrustChain: true,
        checkServerIdentity: (_host, cert) => {
          const chain = chainOf(cert);
          if (chain.some((c) => sameFingerprint(c.fingerprint256, trust.fingerprint256))) return undefined;
          return new PinMismatchError(trust.fingerprint256, chain[0]?.fingerprint256 ?? 'none');
        },
      } as tls.ConnectionOptions;
  }
}
