/**
 * vpnctl's persistent state under the config dir (see paths.ts), one file per concern:
 *
 *   config.json       { version, server, trust }          which controller, and how its TLS is trusted
 *   credentials.json  { version, server, tokens, user }   access + refresh token (rotated on refresh)
 *   device.json       { version, server, userId, id, name, publicKey }
 *   device.key        the device's X25519 private key (base64url); never sent anywhere
 *
 * All files 0600 in a 0700 directory, replaced atomically. Secrets are never logged; `describe*`
 * helpers give the short forms that may be printed.
 */
import { isIP } from 'node:net';
import type { Paths } from './paths.js';
import { readPrivateJson, removeFile, writePrivateJson } from './files.js';

export type Trust =
  | { readonly mode: 'system' }
  /** A CA bundle (PEM) the user gave with --ca; `file` only for display. */
  | { readonly mode: 'ca'; readonly caPem: string; readonly file: string }
  /**
   * A SHA-256 certificate fingerprint the user gave with --pin (`AB:CD:...`), and the certificate
   * (PEM) that matched it on first contact, used as the only trust anchor afterwards.
   */
  | { readonly mode: 'pin'; readonly fingerprint256: string; readonly certPem: string };

export interface CliConfig {
  readonly version: 1;
  /** `https://host[:port]`, no path. */
  readonly server: string;
  readonly trust: Trust;
}

export interface StoredUser {
  readonly id: string;
  readonly email: string;
  readonly role: string;
}

export interface Credentials {
  readonly version: 1;
  readonly server: string;
  readonly accessToken: string;
  /** Epoch ms. */
  readonly accessExpiresAt: number;
  readonly refreshToken: string;
  readonly refreshExpiresAt: number;
  readonly user: StoredUser;
}

export interface DeviceRecord {
  readonly version: 1;
  readonly server: string;
  readonly userId: string;
  readonly id: string;
  readonly name: string;
  /** `x25519pub:<base64url>` */
  readonly publicKey: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function isTrust(v: unknown): v is Trust {
  if (!isObj(v)) return false;
  if (v.mode === 'system') return true;
  if (v.mode === 'ca') return isStr(v.caPem) && typeof v.file === 'string';
  if (v.mode === 'pin') return isStr(v.fingerprint256) && isStr(v.certPem);
  return false;
}

export function isCliConfig(v: unknown): v is CliConfig {
  return isObj(v) && v.version === 1 && isStr(v.server) && isTrust(v.trust);
}

export function isCredentials(v: unknown): v is Credentials {
  return (
    isObj(v) &&
    v.version === 1 &&
    isStr(v.server) &&
    isStr(v.accessToken) &&
    isNum(v.accessExpiresAt) &&
    isStr(v.refreshToken) &&
    isNum(v.refreshExpiresAt) &&
    isObj(v.user) &&
    isStr(v.user.id) &&
    isStr(v.user.email) &&
    isStr(v.user.role)
  );
}

export function isDeviceRecord(v: unknown): v is DeviceRecord {
  return (
    isObj(v) &&
    v.version === 1 &&
    isStr(v.server) &&
    isStr(v.userId) &&
    isStr(v.id) &&
    isStr(v.name) &&
    isStr(v.publicKey)
  );
}

/** The config dir holds the user's own files (see WritePrivateOptions.forDirOwner). */
const USER_FILE = { forDirOwner: true } as const;

export class ConfigStore {
  constructor(readonly paths: Paths) {}

  readConfig(): Promise<CliConfig | undefined> {
    return readPrivateJson(this.paths.configFile, isCliConfig);
  }
  writeConfig(c: CliConfig): Promise<void> {
    return writePrivateJson(this.paths.configFile, c, USER_FILE);
  }

  readCredentials(): Promise<Credentials | undefined> {
    return readPrivateJson(this.paths.credentialsFile, isCredentials);
  }
  writeCredentials(c: Credentials): Promise<void> {
    return writePrivateJson(this.paths.credentialsFile, c, USER_FILE);
  }
  removeCredentials(): Promise<boolean> {
    return removeFile(this.paths.credentialsFile);
  }

  readDevice(): Promise<DeviceRecord | undefined> {
    return readPrivateJson(this.paths.deviceFile, isDeviceRecord);
  }
  writeDevice(d: DeviceRecord): Promise<void> {
    return writePrivateJson(this.paths.deviceFile, d, USER_FILE);
  }
  async removeDevice(): Promise<void> {
    await removeFile(this.paths.deviceFile);
    await removeFile(this.paths.deviceKeyFile);
  }
}

/**
 * Normalises a controller URL: https only, no credentials/path/query, default port 443.
 * Returns an error text for anything else.
 */
export function normalizeServerUrl(input: string): { ok: true; url: string } | { ok: false; error: string } {
  let text = input.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `https://${text}`;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return { ok: false, error: `'${input}' is not a URL` };
  }
  if (u.protocol !== 'https:') {
    return {
      ok: false,
      error: `the controller URL must use https:// (got ${u.protocol}//); vpnctl never talks to it unencrypted`,
    };
  }
  if (u.username || u.password)
    return { ok: false, error: 'the controller URL must not contain a user name or password' };
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    return {
      ok: false,
      error: `the controller URL must not have a path or query (got '${u.pathname}${u.search}')`,
    };
  }
  if (!u.hostname) return { ok: false, error: `'${input}' has no host name` };
  return { ok: true, url: `https://${u.host}` };
}

/** Host of a normalised server URL without IPv6 brackets. */
export function serverHost(url: string): string {
  const h = new URL(url).hostname;
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

export function serverPort(url: string): number {
  const u = new URL(url);
  return u.port ? Number(u.port) : 443;
}

export function isIpLiteral(host: string): boolean {
  return isIP(host) !== 0;
}
