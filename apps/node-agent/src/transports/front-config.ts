/**
 * Configuration of the HTTPS front (tls-front.ts): parsed from the agent's option table (config.ts
 * calls `parseFrontConfig` with its own accessors, so the options keep the file / flag / env forms).
 *
 *   tlsListen    host:port of the front, "off"; default 0.0.0.0:443 once a certificate is given
 *   tlsCertFile  PEM certificate chain (leaf first) the front presents
 *   tlsKeyFile   PEM private key of that certificate
 *   wssPath      HTTPS path of the WebSocket transport (default /ws), or "off"
 *   fallback     host:port of the web site probers see (plain HTTP behind the front), or "off"
 *   padding      off | buckets: size padding of what this node sends on tcp, tls and wss
 *
 * The tcp transport's default port is 443 too: with the front on the same port the operator must move
 * one of them (a problem names both options).
 */
import { isIP } from 'node:net';
import { PADDING_MODES, type PaddingMode } from '@corridor/protocol';

export interface FrontConfig {
  readonly host: string;
  readonly port: number;
  readonly certFile: string;
  readonly keyFile: string;
  readonly wssPath: string | null;
  readonly fallback: { readonly host: string; readonly port: number } | null;
}

/** Option-table keys the front adds (flags --tls-listen, --tls-cert-file, ...). */
export type FrontOptionKey = 'tlsListen' | 'tlsCertFile' | 'tlsKeyFile' | 'wssPath' | 'fallback';

export const DEFAULT_TLS_PORT = 443;
export const DEFAULT_WSS_PATH = '/ws';
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$/;
const PATH = /^\/[A-Za-z0-9._~\-/]{0,200}$/;

interface Accessors {
  /** The option's value (or its default), null when unset. */
  str(key: string): string | null;
  /** Whether the operator set the option (flag, env or file). */
  isSet(key: string): boolean;
  /** How to name the option in a problem. */
  label(key: string): string;
}

/** Parses `host:port`, `[v6]:port` or `name:port`; null when malformed. */
export function parseHostPort(s: string, allowNames: boolean): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s.trim());
  if (!m) return null;
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  if (m[1] !== undefined && isIP(host) !== 6) return null;
  if (isIP(host) === 0 && !(allowNames && HOSTNAME.test(host))) return null;
  return { host, port };
}

export function parseFrontConfig(
  a: Accessors,
  tcpListen: { host: string; port: number } | null,
  problems: string[],
): { front: FrontConfig | null; padding: PaddingMode } {
  const paddingRaw = a.str('padding') ?? 'off';
  let padding: PaddingMode = 'off';
  if ((PADDING_MODES as readonly string[]).includes(paddingRaw)) padding = paddingRaw as PaddingMode;
  else problems.push(`${a.label('padding')}: expected off | buckets, got '${paddingRaw}'`);

  const cert = a.str('tlsCertFile');
  const key = a.str('tlsKeyFile');
  const listenRaw = a.str('tlsListen');
  if (listenRaw === 'off' || (listenRaw === null && cert === null && key === null)) {
    return { front: null, padding };
  }
  let listen: { host: string; port: number } | null = { host: '0.0.0.0', port: DEFAULT_TLS_PORT };
  if (listenRaw !== null) {
    listen = parseHostPort(listenRaw, false);
    if (listen === null)
      problems.push(
        `${a.label('tlsListen')}: expected <ip>:<port> ([ipv6]:port) or "off", got '${listenRaw}'`,
      );
  }
  if (cert === null)
    problems.push(`${a.label('tlsCertFile')}: required for the tls/wss front (a PEM certificate chain file)`);
  if (key === null)
    problems.push(`${a.label('tlsKeyFile')}: required for the tls/wss front (the PEM private key file)`);

  const wssRaw = a.str('wssPath') ?? DEFAULT_WSS_PATH;
  let wssPath: string | null = null;
  if (wssRaw !== 'off') {
    if (PATH.test(wssRaw)) wssPath = wssRaw;
    else
      problems.push(`${a.label('wssPath')}: expected an absolute path like /ws (or "off"), got '${wssRaw}'`);
  }
  const fbRaw = a.str('fallback');
  let fallback: FrontConfig['fallback'] = null;
  if (fbRaw !== null && fbRaw !== 'off') {
    fallback = parseHostPort(fbRaw, true);
    if (fallback === null)
      problems.push(
        `${a.label('fallback')}: expected host:port of the fallback web server (or "off"), got '${fbRaw}'`,
      );
  }
  if (listen !== null && tcpListen !== null && listen.port === tcpListen.port) {
    const wildcard = (h: string) => h === '0.0.0.0' || h === '::';
    if (listen.host === tcpListen.host || wildcard(listen.host) || wildcard(tcpListen.host)) {
      problems.push(
        `${a.label('tlsListen')} / ${a.label('tcpListen')}: both want port ${listen.port}; move the tcp ` +
          `transport (e.g. --tcp-listen 0.0.0.0:8443, or off) or give the front another --tls-listen`,
      );
    }
  }
  if (listen === null || cert === null || key === null) return { front: null, padding };
  return {
    front: { host: listen.host, port: listen.port, certFile: cert, keyFile: key, wssPath, fallback },
    padding,
  };
}
