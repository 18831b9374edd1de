/**
 * vpnctl's options for the node's HTTPS front (tls and wss transports): where it is, how its
 * certificate is trusted, the optional HTTP proxy, padding.
 *
 * Decision (docs/transports.md): the trust anchor comes from the user — `--tls-pin SHA256` (the
 * node certificate's fingerprint, as `openssl x509 -fingerprint -sha256` prints it) or `--tls-ca FILE`
 * — not from the controller's node record: that record (host, udpPort, tcpPort) has no field for it
 * yet, and adding one is a controller schema change. Environment forms for scripts: CORRIDOR_TLS_PIN,
 * CORRIDOR_TLS_CA, CORRIDOR_PADDING; the proxy defaults to $HTTPS_PROXY / $https_proxy.
 * Without a trust anchor, `--transport tls|wss` is a usage error and `auto` skips them.
 */
import { readFileSync } from 'node:fs';
import type { PaddingMode } from '@corridor/protocol';
import { normalizeFingerprint } from '../../api/tls.js';
import { UsageError } from '../../errors.js';
import { parseProxyUrl, type ProxyUrl } from './http-connect.js';
import type { TlsTrust } from './tls-dial.js';

export interface FrontOptions {
  readonly port: number;
  readonly wssPath: string;
  /** SNI; null = the node's host name when it is a DNS name, none for an IP. */
  readonly serverName: string | null;
  readonly trust: TlsTrust | null;
  readonly proxy: ProxyUrl | null;
  readonly padding: PaddingMode;
}

export const DEFAULT_FRONT_PORT = 443;
export const DEFAULT_WSS_PATH = '/ws';
const SNI =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$/;

type Get = (name: string) => string | undefined;

export function parseFrontOptions(
  get: Get,
  env: Readonly<Record<string, string | undefined>>,
  readFile: (p: string) => Buffer = (p) => readFileSync(p),
): FrontOptions {
  const portText = get('tls-port');
  const port = portText === undefined ? DEFAULT_FRONT_PORT : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError(`--tls-port must be a port number (1..65535), got '${portText}'`);
  const wssPath = get('wss-path') ?? DEFAULT_WSS_PATH;
  if (!/^\/[A-Za-z0-9._~\-/]{0,200}$/.test(wssPath))
    throw new UsageError(`--wss-path must be an absolute path like /ws, got '${wssPath}'`);
  const sni = get('sni') ?? null;
  if (sni !== null && !SNI.test(sni)) throw new UsageError(`--sni must be a DNS name, got '${sni}'`);

  const pinText = get('tls-pin') ?? env.CORRIDOR_TLS_PIN;
  const caFile = get('tls-ca') ?? env.CORRIDOR_TLS_CA;
  if (pinText && caFile) throw new UsageError('give either --tls-pin or --tls-ca, not both');
  let trust: TlsTrust | null = null;
  if (pinText) {
    const fp = normalizeFingerprint(pinText);
    if (fp === null)
      throw new UsageError(
        `--tls-pin must be a SHA-256 fingerprint (32 hex pairs, as \`openssl x509 -fingerprint -sha256\` prints it), got '${pinText}'`,
      );
    trust = { kind: 'pin', fingerprint256: fp };
  } else if (caFile) {
    let ca: Buffer;
    try {
      ca = readFile(caFile);
    } catch (e) {
      throw new UsageError(
        `--tls-ca ${caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----'))
      throw new UsageError(`--tls-ca ${caFile}: not a PEM certificate file`);
    trust = { kind: 'ca', ca };
  }

  const proxyText = get('proxy') ?? env.HTTPS_PROXY ?? env.https_proxy;
  let proxy: ProxyUrl | null = null;
  if (proxyText) {
    proxy = parseProxyUrl(proxyText);
    if (proxy === null)
      throw new UsageError(`--proxy must be http://host:port (an HTTP CONNECT proxy), got '${proxyText}'`);
  }
  const padding = get('padding') ?? env.CORRIDOR_PADDING ?? 'off';
  if (padding !== 'off' && padding !== 'buckets')
    throw new UsageError(`--padding must be off or buckets, got '${padding}'`);
  return { port, wssPath, serverName: sni, trust, proxy, padding };
}
