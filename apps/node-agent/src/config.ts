/**
 * Node agent configuration from a JSON file, the environment and command-line flags, in that order of
 * precedence (flags win). Every option has all three forms, from one table (OPTIONS): file key
 * `udpListen`, flag `--udp-listen`, env `CORRIDOR_UDP_LISTEN`. Every problem is reported at once, each
 * naming the option in the form the operator used and what it expects, so a bad deployment is fixed in
 * one pass. `loadConfig` never throws.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { NODE_ID_PATTERN, type PaddingMode } from '@corridor/protocol';
import { policyListProblems } from './egress/policy.js';
import { parseFrontConfig, type FrontConfig, type FrontOptionKey } from './transports/front-config.js';

export type OnlineAuthMode = 'off' | 'check' | 'require';
/** Where client packets leave the tunnel: the kernel (TUN + NAT, root) or the node's own stack (rootless). */
export type EgressMode = 'kernel' | 'userspace';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface Ipv4Subnet {
  /** Network address, e.g. 10.8.0.0. */
  readonly network: string;
  readonly prefix: number;
  /** Node (gateway) address: the first host, e.g. 10.8.0.1. */
  readonly gateway: string;
}

export interface Ipv6Subnet {
  /** The /64 (or shorter) prefix, e.g. fd12:3456:789a::. */
  readonly network: string;
  readonly prefix: number;
  /** Node address in it (`<prefix>::1`). */
  readonly gateway: string;
}

export interface AgentConfig {
  readonly controllerUrl: URL | null;
  readonly controllerCaFile: string | null;
  /** SHA-256 fingerprint of the controller certificate, `AB:CD:...` (uppercase hex pairs). */
  readonly controllerFingerprint: string | null;
  readonly nodeId: string | null;
  readonly enrollmentToken: string | null;
  readonly dataDir: string;
  readonly udpListen: ListenAddress | null;
  readonly tcpListen: ListenAddress | null;
  /** The HTTPS front (tls + wss transports, fallback site), or null; see transports/front-config.ts. */
  readonly front: FrontConfig | null;
  /** Size padding of what this node sends on the stream transports. */
  readonly padding: PaddingMode;
  readonly tunName: string;
  readonly clientSubnet: Ipv4Subnet;
  readonly clientSubnet6: Ipv6Subnet | null;
  readonly egressInterface: string | null;
  /** kernel: TUN, forwarding and nftables NAT (CAP_NET_ADMIN); userspace: netstack + real sockets, no privilege. */
  readonly egress: EgressMode;
  /** Egress policy deny tokens: 'default', group names (egress/policy.ts DENY_GROUPS), CIDRs; or 'none'. */
  readonly egressDeny: readonly string[];
  /** CIDRs clients may reach even when a deny entry covers them. */
  readonly egressAllow: readonly string[];
  /** Set up masquerading (NAT44 + NAT66) towards the egress interface. */
  readonly nat: boolean;
  readonly dnsServers: readonly string[];
  /** Clients cannot reach each other through the node. */
  readonly isolation: boolean;
  readonly mtu: number;
  /** Keepalive interval the node assigns to clients (seconds, >= 1). */
  readonly keepaliveSeconds: number;
  readonly onlineAuth: OnlineAuthMode;
  readonly maxSessions: number;
  readonly statusSocket: string;
  readonly metricsListen: ListenAddress | null;
  readonly logLevel: LogLevel;
  readonly heartbeatSeconds: number;
  /** Long-poll duration asked of the controller for revocations (0 = plain polling). */
  readonly revocationWaitSeconds: number;
  /** Interval of plain polling (also the fallback when long polls are not supported). */
  readonly revocationPollSeconds: number;
  /** Handshake initiations per second per source address, and burst, before any Diffie-Hellman. */
  readonly handshakeRate: number;
  readonly handshakeBurst: number;
  /** Initiations per second above which cookies are demanded. */
  readonly cookieThreshold: number;
}

export type ConfigResult = { ok: true; config: AgentConfig } | { ok: false; problems: string[] };

type Kind = 'string' | 'int' | 'bool' | 'list';

interface OptionSpec {
  readonly key: keyof AgentConfig | 'config' | FrontOptionKey;
  readonly kind: Kind;
  readonly help: string;
  readonly default?: string;
}

/** Every option: file key (camelCase), flag `--kebab-case`, env `CORRIDOR_UPPER_SNAKE`. */
export const OPTIONS: readonly OptionSpec[] = [
  { key: 'config', kind: 'string', help: 'JSON config file with any of the keys below' },
  { key: 'controllerUrl', kind: 'string', help: 'controller base URL (https://…)' },
  { key: 'controllerCaFile', kind: 'string', help: 'PEM CA file the controller certificate must chain to' },
  {
    key: 'controllerFingerprint',
    kind: 'string',
    help: 'SHA-256 fingerprint pin of the controller certificate (AB:CD:…)',
  },
  { key: 'nodeId', kind: 'string', help: 'this node id (e.g. fra-1)' },
  { key: 'enrollmentToken', kind: 'string', help: 'one-time enrollment token (first run only)' },
  {
    key: 'dataDir',
    kind: 'string',
    help: 'node key, controller credential, caches',
    default: '/var/lib/corridor-node',
  },
  {
    key: 'udpListen',
    kind: 'string',
    help: 'UDP tunnel address host:port, or "off"',
    default: '0.0.0.0:51820',
  },
  {
    key: 'tcpListen',
    kind: 'string',
    help: 'TCP tunnel address host:port, or "off"',
    default: '0.0.0.0:443',
  },
  {
    key: 'tlsListen',
    kind: 'string',
    help: 'HTTPS front (tls + wss transports) host:port, or "off"; default 0.0.0.0:443 once --tls-cert-file is set',
  },
  { key: 'tlsCertFile', kind: 'string', help: 'PEM certificate chain the HTTPS front presents' },
  { key: 'tlsKeyFile', kind: 'string', help: 'PEM private key of that certificate' },
  { key: 'wssPath', kind: 'string', help: 'HTTPS path of the WebSocket transport, or "off" (default /ws)' },
  {
    key: 'fallback',
    kind: 'string',
    help: 'host:port of the web site shown to connections that open no tunnel (default: a 404 page)',
  },
  { key: 'padding', kind: 'string', help: 'size padding on tcp/tls/wss: off | buckets', default: 'off' },
  { key: 'tunName', kind: 'string', help: 'TUN interface name', default: 'corridor0' },
  {
    key: 'clientSubnet',
    kind: 'string',
    help: 'client IPv4 subnet; the node takes its first host',
    default: '10.8.0.0/24',
  },
  {
    key: 'clientSubnet6',
    kind: 'string',
    help: 'client IPv6 subnet (/64..120), "auto" (a ULA /64 from the node id) or "off"',
    default: 'auto',
  },
  {
    key: 'egressInterface',
    kind: 'string',
    help: "interface towards the internet (NAT); default: the default route's",
  },
  {
    key: 'egress',
    kind: 'string',
    help: 'kernel (TUN + NAT, needs root) | userspace (own TCP/IP stack, no privilege)',
    default: 'kernel',
  },
  {
    key: 'egressDeny',
    kind: 'list',
    help: "destinations refused: 'default', groups (metadata, loopback, link-local, node, private, shared, multicast, reserved), CIDRs, or 'none'",
    default: 'default',
  },
  {
    key: 'egressAllow',
    kind: 'list',
    help: 'CIDRs allowed even when denied (e.g. 10.1.2.0/24)',
    default: '',
  },
  { key: 'nat', kind: 'bool', help: 'masquerade client traffic to the egress interface', default: 'true' },
  { key: 'dnsServers', kind: 'list', help: 'DNS servers pushed to clients (comma-separated)', default: '' },
  { key: 'isolation', kind: 'bool', help: 'clients cannot reach each other', default: 'true' },
  { key: 'mtu', kind: 'int', help: 'tunnel MTU (1280..9000)', default: '1420' },
  {
    key: 'keepaliveSeconds',
    kind: 'int',
    help: 'keepalive interval assigned to clients (1..3600)',
    default: '25',
  },
  {
    key: 'onlineAuth',
    kind: 'string',
    help: 'also ask the controller per new session: off | check | require',
    default: 'off',
  },
  { key: 'maxSessions', kind: 'int', help: 'sessions at once (1..65536)', default: '10000' },
  {
    key: 'statusSocket',
    kind: 'string',
    help: 'local status socket path (0600); default <data-dir>/status.sock',
  },
  {
    key: 'metricsListen',
    kind: 'string',
    help: 'Prometheus metrics host:port (local), or "off"',
    default: '127.0.0.1:9817',
  },
  { key: 'logLevel', kind: 'string', help: 'debug | info | warn | error', default: 'info' },
  { key: 'heartbeatSeconds', kind: 'int', help: 'heartbeat interval (1..300)', default: '15' },
  {
    key: 'revocationWaitSeconds',
    kind: 'int',
    help: 'revocation long-poll length (0 = plain polling, max 60)',
    default: '25',
  },
  {
    key: 'revocationPollSeconds',
    kind: 'int',
    help: 'plain revocation polling interval (1..60)',
    default: '1',
  },
  { key: 'handshakeRate', kind: 'int', help: 'initiations/s per source before any DH', default: '20' },
  { key: 'handshakeBurst', kind: 'int', help: 'initiation burst per source', default: '5' },
  {
    key: 'cookieThreshold',
    kind: 'int',
    help: 'initiations/s above which cookies are demanded',
    default: '1000',
  },
];

export function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase());
}

export function envName(key: string): string {
  return 'CORRIDOR_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const FINGERPRINT = /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/;

/** Raw values by key, with where each came from (for error messages). */
type Raw = Map<string, { value: unknown; from: string }>;

/**
 * Parses argv flags (`--key value` or `--key=value`, booleans may stand alone). Flags that are not
 * options go to `rest` (the caller decides: `loadConfig` with `strict` reports them as problems).
 */
export function parseFlags(argv: readonly string[], problems: string[]): { values: Raw; rest: string[] } {
  const byFlag = new Map(OPTIONS.map((o) => [flagName(o.key), o]));
  const values: Raw = new Map();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) {
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const spec = byFlag.get(name);
    if (spec === undefined) {
      rest.push(arg);
      continue;
    }
    let value: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    if (value === undefined) {
      const next = argv[i + 1];
      if (spec.kind === 'bool' && (next === undefined || next.startsWith('--'))) value = 'true';
      else if (next === undefined) {
        problems.push(`${name}: needs a value`);
        continue;
      } else {
        value = next;
        i++;
      }
    }
    values.set(spec.key, { value, from: name });
  }
  return { values, rest };
}

/**
 * Builds the configuration from `argv` flags, `env` and the JSON file named by `--config` /
 * `CORRIDOR_CONFIG`. Returns every problem found. `readFile` is injectable for tests.
 */
export interface LoadOptions {
  /** Options this command cannot run without, reported in the same pass as every bad value. */
  readonly required?: readonly ('controllerUrl' | 'nodeId' | 'enrollmentToken')[];
  /** Report flags that are not options (and stray arguments) as problems too. */
  readonly strict?: boolean;
}

export function loadConfig(
  env: Readonly<Record<string, string | undefined>>,
  argv: readonly string[] = [],
  readFile: (p: string) => string = (p) => readFileSync(p, 'utf8'),
  options: LoadOptions = {},
): ConfigResult {
  const problems: string[] = [];
  const parsed = parseFlags(argv, problems);
  const flags = parsed.values;
  if (options.strict) {
    for (const arg of parsed.rest) {
      problems.push(
        arg.startsWith('--')
          ? `${arg.split('=')[0]}: unknown option (see --help)`
          : // A long stray word is likely a secret after a mistyped flag: never echo it whole.
            `'${arg.length > 12 ? `${arg.slice(0, 4)}…' (${arg.length} characters)` : `${arg}'`}: unexpected argument (see --help)`,
      );
    }
  }
  const raw: Raw = new Map();
  const configPath = flags.get('config')?.value ?? env[envName('config')];
  if (typeof configPath === 'string' && configPath !== '') {
    let text: string | undefined;
    try {
      text = readFile(configPath);
    } catch (err) {
      problems.push(
        `${flags.has('config') ? '--config' : 'CORRIDOR_CONFIG'}: cannot read ${configPath} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
    if (text !== undefined) {
      try {
        const json = JSON.parse(text) as unknown;
        if (typeof json !== 'object' || json === null || Array.isArray(json))
          throw new Error('not an object');
        const known = new Set(OPTIONS.map((o) => o.key as string));
        for (const [k, v] of Object.entries(json)) {
          if (!known.has(k) || k === 'config') problems.push(`${configPath}: unknown key "${k}"`);
          else raw.set(k, { value: v, from: `${configPath}: ${k}` });
        }
      } catch (err) {
        problems.push(`${configPath}: not a JSON object (${(err as Error).message})`);
      }
    }
  }
  for (const o of OPTIONS) {
    const e = env[envName(o.key)];
    if (e !== undefined && e !== '') raw.set(o.key, { value: e, from: envName(o.key) });
  }
  for (const [k, v] of flags) raw.set(k, v);

  const get = (key: string): { value: unknown; from: string } | undefined => raw.get(key);
  const str = (key: string): string | null => {
    const r = get(key);
    if (r !== undefined) {
      if (typeof r.value === 'string') return r.value;
      if (typeof r.value === 'number' || typeof r.value === 'boolean') return String(r.value);
      problems.push(`${r.from}: expected a string`);
      return null;
    }
    return OPTIONS.find((o) => o.key === key)?.default ?? null;
  };
  const label = (key: string): string => get(key)?.from ?? `${flagName(key)} / ${envName(key)}`;
  const int = (key: string, min: number, max: number): number => {
    const s = str(key);
    const n = Number(s);
    if (s === null || s.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      problems.push(`${label(key)}: expected an integer ${min}..${max}, got '${s}'`);
      return min;
    }
    return n;
  };
  const bool = (key: string): boolean => {
    const s = (str(key) ?? '').toLowerCase();
    if (['true', 'on', 'yes', '1'].includes(s)) return true;
    if (['false', 'off', 'no', '0'].includes(s)) return false;
    problems.push(`${label(key)}: expected on|off (true|false), got '${s}'`);
    return true;
  };
  const listen = (key: string): ListenAddress | null => {
    const s = str(key);
    if (s === null || s === 'off') return null;
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s);
    const host = m ? (m[1] ?? m[2] ?? '') : '';
    const port = m ? Number(m[3]) : NaN;
    if (!m || isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
      problems.push(`${label(key)}: expected <ip>:<port> ([ipv6]:port) or "off", got '${s}'`);
      return null;
    }
    return { host, port };
  };

  let controllerUrl: URL | null = null;
  const rawUrl = str('controllerUrl');
  if (rawUrl !== null) {
    try {
      controllerUrl = new URL(rawUrl);
      if (controllerUrl.protocol !== 'https:') {
        problems.push(
          `${label('controllerUrl')}: must use https (got ${controllerUrl.protocol.replace(':', '')})`,
        );
      }
    } catch {
      problems.push(`${label('controllerUrl')}: not a valid URL: '${rawUrl}'`);
    }
  }
  const fingerprint = str('controllerFingerprint');
  const normalisedPin = fingerprint === null ? null : fingerprint.toUpperCase().replace(/^SHA256:/, '');
  if (normalisedPin !== null && !FINGERPRINT.test(normalisedPin)) {
    problems.push(
      `${label('controllerFingerprint')}: expected 32 colon-separated hex pairs (openssl x509 -fingerprint -sha256), got '${fingerprint}'`,
    );
  }
  const nodeId = str('nodeId');
  if (nodeId !== null && (nodeId.length > 32 || !NODE_ID_PATTERN.test(nodeId))) {
    problems.push(
      `${label('nodeId')}: expected a lowercase slug like fra-1 (at most 32 characters), got '${nodeId}'`,
    );
  }
  const token = str('enrollmentToken');
  if (token !== null && !/^[A-Za-z0-9_-]{16,512}$/.test(token)) {
    problems.push(`${label('enrollmentToken')}: expected the base64url token the controller printed`);
  }
  const dataDir = path.resolve(str('dataDir') ?? '/var/lib/corridor-node');
  const tunName = str('tunName') ?? 'corridor0';
  if (!IFNAME.test(tunName))
    problems.push(`${label('tunName')}: 1-15 characters of [A-Za-z0-9_.-], got '${tunName}'`);

  const clientSubnet = parseSubnet4(str('clientSubnet') ?? '', label('clientSubnet'), problems);
  let clientSubnet6: Ipv6Subnet | null = null;
  const s6 = str('clientSubnet6') ?? 'auto';
  if (s6 === 'auto') clientSubnet6 = ulaFor(nodeId ?? 'corridor');
  else if (s6 !== 'off') clientSubnet6 = parseSubnet6(s6, label('clientSubnet6'), problems);

  const egress = str('egressInterface');
  if (egress !== null && !IFNAME.test(egress))
    problems.push(`${label('egressInterface')}: not an interface name: '${egress}'`);

  const dnsRaw = get('dnsServers')?.value;
  const dnsList = Array.isArray(dnsRaw)
    ? dnsRaw.map(String)
    : (str('dnsServers') ?? '')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
  for (const d of dnsList)
    if (isIP(d) === 0) problems.push(`${label('dnsServers')}: not an IP address: '${d}'`);
  if (dnsList.length > 4) problems.push(`${label('dnsServers')}: at most 4 servers`);

  const list = (key: string): string[] => {
    const r = get(key)?.value;
    return Array.isArray(r)
      ? r.map(String)
      : (str(key) ?? '')
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean);
  };
  const egressMode = str('egress') ?? 'kernel';
  if (egressMode !== 'kernel' && egressMode !== 'userspace')
    problems.push(`${label('egress')}: expected kernel | userspace, got '${egressMode}'`);
  if (egressMode === 'userspace') {
    // Kernel-only options set explicitly are a misunderstanding worth stopping for.
    for (const k of ['tunName', 'egressInterface', 'nat'])
      if (get(k) !== undefined)
        problems.push(
          `${label(k)}: applies to egress=kernel only (userspace egress has no TUN or NAT; it opens sockets through the node's own routing)`,
        );
  }
  const egressDeny = list('egressDeny');
  const egressAllow = list('egressAllow');
  for (const p of policyListProblems(egressDeny, egressAllow))
    problems.push(`${p.startsWith('egress allow') ? label('egressAllow') : label('egressDeny')}: ${p}`);

  const onlineAuth = str('onlineAuth') ?? 'off';
  if (!['off', 'check', 'require'].includes(onlineAuth))
    problems.push(`${label('onlineAuth')}: expected off | check | require, got '${onlineAuth}'`);
  const logLevel = str('logLevel') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel))
    problems.push(`${label('logLevel')}: expected debug | info | warn | error, got '${logLevel}'`);

  const tcpListen = listen('tcpListen');
  const { front, padding } = parseFrontConfig(
    { str, isSet: (key) => get(key) !== undefined, label },
    tcpListen,
    problems,
  );
  const config: AgentConfig = {
    controllerUrl,
    controllerCaFile: str('controllerCaFile'),
    controllerFingerprint: normalisedPin,
    nodeId,
    enrollmentToken: token,
    dataDir,
    udpListen: listen('udpListen'),
    tcpListen,
    front,
    padding,
    tunName,
    clientSubnet: clientSubnet ?? { network: '10.8.0.0', prefix: 24, gateway: '10.8.0.1' },
    clientSubnet6,
    egressInterface: egress,
    egress: egressMode as EgressMode,
    egressDeny,
    egressAllow,
    nat: bool('nat'),
    dnsServers: dnsList,
    isolation: bool('isolation'),
    mtu: int('mtu', 1280, 9000),
    keepaliveSeconds: int('keepaliveSeconds', 1, 3600),
    onlineAuth: onlineAuth as OnlineAuthMode,
    maxSessions: int('maxSessions', 1, 65536),
    statusSocket: path.resolve(dataDir, str('statusSocket') ?? 'status.sock'),
    metricsListen: listen('metricsListen'),
    logLevel: logLevel as LogLevel,
    heartbeatSeconds: int('heartbeatSeconds', 1, 300),
    revocationWaitSeconds: int('revocationWaitSeconds', 0, 60),
    revocationPollSeconds: int('revocationPollSeconds', 1, 60),
    handshakeRate: int('handshakeRate', 1, 100000),
    handshakeBurst: int('handshakeBurst', 1, 100000),
    cookieThreshold: int('cookieThreshold', 1, 10_000_000),
  };
  const missing: Record<string, string> = {
    controllerUrl: 'required (e.g. https://controller.example:8443)',
    nodeId: 'required (the id the admin created, e.g. fra-1)',
    enrollmentToken: 'required to enroll (the one-time token the admin got when creating the node)',
  };
  for (const key of options.required ?? []) {
    if (config[key] === null && get(key) === undefined)
      problems.push(`${flagName(key)} / ${envName(key)}: ${missing[key]}`);
  }
  if (
    config.udpListen === null &&
    config.tcpListen === null &&
    get('udpListen') !== undefined &&
    get('tcpListen') !== undefined
  ) {
    problems.push(`${label('udpListen')} / ${label('tcpListen')}: at least one transport must listen`);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config };
}

/** What `run` and `enroll` need beyond the defaults; each missing value named with its flag and env. */
export function requireForControl(config: AgentConfig): string[] {
  const problems: string[] = [];
  if (config.controllerUrl === null)
    problems.push(
      `${flagName('controllerUrl')} / ${envName('controllerUrl')}: required (e.g. https://controller.example:8443)`,
    );
  if (config.nodeId === null)
    problems.push(
      `${flagName('nodeId')} / ${envName('nodeId')}: required (the id the admin created, e.g. fra-1)`,
    );
  return problems;
}

function ipv4ToInt(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(p)) return null;
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function parseSubnet4(text: string, where: string, problems: string[]): Ipv4Subnet | null {
  const [addr = '', pfx = ''] = text.split('/');
  const n = ipv4ToInt(addr);
  const prefix = Number(pfx);
  if (n === null || !/^\d+$/.test(pfx) || prefix < 8 || prefix > 29) {
    problems.push(`${where}: expected an IPv4 subnet with prefix 8..29 (e.g. 10.8.0.0/24), got '${text}'`);
    return null;
  }
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (n & mask) >>> 0;
  const first = network >>> 24;
  if (first === 0 || first === 127 || first >= 224 || network >>> 16 === 0xa9fe) {
    problems.push(
      `${where}: '${text}' is not a unicast range clients can use (unspecified, loopback, link-local, multicast or reserved); use a private range such as 10.8.0.0/24`,
    );
    return null;
  }
  return { network: intToIpv4(network), prefix, gateway: intToIpv4(network + 1) };
}

export function parseSubnet6(text: string, where: string, problems: string[]): Ipv6Subnet | null {
  const [addr = '', pfx = ''] = text.split('/');
  const prefix = Number(pfx);
  if (isIP(addr) !== 6 || !/^\d+$/.test(pfx) || prefix < 64 || prefix > 120) {
    problems.push(
      `${where}: expected an IPv6 subnet with prefix 64..120 (e.g. fd00:8::/64), "auto" or "off", got '${text}'`,
    );
    return null;
  }
  if (addr.includes('.')) {
    problems.push(`${where}: write the IPv6 subnet in hex groups only (no dotted IPv4 tail), got '${text}'`);
    return null;
  }
  const bytes = ipv6Bytes(addr);
  for (let bit = prefix; bit < 128; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  const linkLocal = bytes[0] === 0xfe && ((bytes[1] as number) & 0xc0) === 0x80;
  if (bytes[0] === 0xff || linkLocal || bytes.subarray(0, 10).every((b) => b === 0)) {
    problems.push(
      `${where}: '${text}' is not a unicast range clients can use (multicast, link-local, loopback or IPv4-mapped); use a ULA such as fd00:8::/64, "auto" or a routed prefix`,
    );
    return null;
  }
  const gw = Buffer.from(bytes);
  gw[15] = (gw[15] as number) | 1;
  return { network: formatIpv6(bytes), prefix, gateway: formatIpv6(gw) };
}

/** RFC 4193-style ULA /64 from the node id (stable per node; operators may configure their own). */
export function ulaFor(nodeId: string): Ipv6Subnet {
  const h = createHash('sha256').update(`corridor-ula:${nodeId}`).digest();
  const bytes = Buffer.alloc(16);
  bytes[0] = 0xfd;
  h.copy(bytes, 1, 0, 5);
  const gw = Buffer.from(bytes);
  gw[15] = 1;
  return { network: formatIpv6(bytes), prefix: 64, gateway: formatIpv6(gw) };
}

export function ipv6Bytes(text: string): Buffer {
  const out = Buffer.alloc(16);
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, 2 * i));
  return out;
}

export function formatIpv6(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((b[i] as number) << 8) | (b[i + 1] as number)).toString(16));
  let best = -1;
  let len = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > len) {
      best = i;
      len = j - i;
    }
    i = j > i ? j : i + 1;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + len).join(':')}`;
}

/** Help text for the options (used by `corridor-node --help`). */
export function optionsHelp(): string {
  return OPTIONS.map((o) => {
    const d = o.default !== undefined && o.default !== '' ? ` (default ${o.default})` : '';
    return `  ${flagName(o.key).padEnd(26)} ${envName(o.key).padEnd(34)} ${o.help}${d}`;
  }).join('\n');
}
