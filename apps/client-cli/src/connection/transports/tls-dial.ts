/**
 * Dials the node's HTTPS front: TCP (directly or through an HTTP CONNECT proxy), then TLS 1.3 with
 * the certificate verified — never without verification:
 *
 *   ca   the chain must lead to the CA file the user gave (`--tls-ca`) and name the server name
 *   pin  the leaf certificate's SHA-256 fingerprint must equal `--tls-pin` (constant-time compare);
 *        checked right after the TLS handshake, before a single byte of application data is sent.
 *        Chain and name are not checked in this mode: the fingerprint names the exact certificate.
 *
 * Security of the tunnel never rests on this layer (Noise IK with the node's static key runs inside);
 * verification keeps a middlebox from terminating TLS and learning that a tunnel runs inside.
 */
import { X509Certificate, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { connectThroughProxy, type ProxyUrl } from './http-connect.js';

export type TlsTrust =
  { readonly kind: 'ca'; readonly ca: Buffer } | { readonly kind: 'pin'; readonly fingerprint256: string };

export interface TlsDialOptions {
  readonly host: string;
  readonly port: number;
  /** SNI sent in the ClientHello (and the name checked in 'ca' mode); none for an IP literal. */
  readonly serverName: string | null;
  readonly trust: TlsTrust;
  readonly proxy: ProxyUrl | null;
  readonly timeoutMs: number;
  /** ALPN offered (wss: http/1.1). */
  readonly alpn?: readonly string[];
}

export class TlsDialError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

function fingerprintBytes(fp: string): Buffer {
  return Buffer.from(fp.replace(/:/g, ''), 'hex');
}

export async function dialTls(o: TlsDialOptions): Promise<tls.TLSSocket> {
  const raw: net.Socket | undefined = o.proxy
    ? await connectThroughProxy(o.proxy, o.host, o.port, o.timeoutMs)
    : undefined;
  return new Promise((resolve, reject) => {
    const servername = o.serverName ?? undefined;
    const socket = tls.connect({
      ...(raw ? { socket: raw } : { host: o.host, port: o.port }),
      ...(servername && net.isIP(servername) === 0 ? { servername } : {}),
      minVersion: 'TLSv1.3',
      ALPNProtocols: [...(o.alpn ?? [])],
      ...(o.trust.kind === 'ca'
        ? {
            ca: o.trust.ca,
            rejectUnauthorized: true,
            ...(servername
              ? {
                  checkServerIdentity: (_h: string, cert: tls.PeerCertificate) =>
                    tls.checkServerIdentity(servername, cert),
                }
              : {}),
          }
        : // Pin mode: the chain is not what we trust; the fingerprint below is checked before use.
          { rejectUnauthorized: false }),
    });
    const fail = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      raw?.destroy();
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new TlsDialError(`TLS to ${o.host}:${o.port} timed out`, 'ETIMEDOUT')),
      o.timeoutMs,
    );
    socket.once('error', (e: NodeJS.ErrnoException) =>
      fail(new TlsDialError(`TLS to ${o.host}:${o.port}: ${e.message}`, e.code ?? 'ETLS')),
    );
    socket.once('secureConnect', () => {
      if (o.trust.kind === 'pin') {
        const cert = socket.getPeerCertificate();
        const want = fingerprintBytes(o.trust.fingerprint256);
        let ok = false;
        if (cert && cert.raw) {
          const got = fingerprintBytes(new X509Certificate(cert.raw).fingerprint256);
          ok = got.length === want.length && timingSafeEqual(got, want);
        }
        if (!ok) {
          fail(
            new TlsDialError(
              `the node's TLS certificate does not match the pinned fingerprint (someone may be intercepting)`,
              'CORRIDOR_ERR_TLS_PIN_MISMATCH',
            ),
          );
          return;
        }
      }
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}
