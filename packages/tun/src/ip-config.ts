// Interface configuration (addresses, routes, MTU, up/down) in the caller's network namespace.
// Addresses and routes go through iproute2's `ip` (a runtime dependency, see README.md), executed with
// execFile and an argument vector — never a shell. Every value is validated before it reaches argv.
// MTU and up/down use ioctls in the addon (no process spawn).
import { execFile } from 'node:child_process';
import { isIP } from 'node:net';
import { TunError, HINT_EPERM, fromNativeError } from './errors.js';
import { loadNative } from './native.js';
import { validateTunName } from './name.js';

export interface RouteOptions {
  /** Gateway address (same family as the destination); omitted → the route points at the interface. */
  via?: string;
  metric?: number;
  /** Routing table id or name (ip route ... table X). */
  table?: number;
  /** Preferred source address. */
  src?: string;
}

export interface InterfaceConfig {
  /** CIDRs, IPv4 or IPv6: '198.18.10.1/24', 'fd00:8::1/64'. */
  addresses?: readonly string[];
  mtu?: number;
  /** Packets the kernel queues for the reader before dropping (default 500). */
  txQueueLen?: number;
  up?: boolean;
  routes?: readonly ({ to: string } & RouteOptions)[];
}

/** Path or name of the iproute2 binary; resolved through PATH. */
export const IP_COMMAND = process.env.CORRIDOR_IP_COMMAND ?? 'ip';

/** Parses 'addr/prefix' (prefix required) into [address, prefix, family]. Throws on anything else. */
export function parseCidr(cidr: string): { address: string; prefix: number; family: 4 | 6 } {
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(cidr);
  const family = m ? isIP(m[1] as string) : 0;
  const prefix = m ? Number(m[2]) : NaN;
  if (!m || (family !== 4 && family !== 6) || prefix > (family === 4 ? 32 : 128)) {
    throw new TunError(
      'CORRIDOR_ERR_TUN_INVALID_ARG',
      `invalid CIDR ${JSON.stringify(cidr)} (expected addr/prefix)`,
    );
  }
  return { address: m[1] as string, prefix, family };
}

/** Destination for a route: a CIDR, a bare address (host route) or 'default' (needs `family`). */
function routeTarget(to: string): { dest: string; family: 4 | 6 | 0 } {
  if (to === 'default') return { dest: 'default', family: 0 };
  if (to.includes('/')) {
    const c = parseCidr(to);
    return { dest: `${c.address}/${c.prefix}`, family: c.family };
  }
  const fam = isIP(to);
  if (fam !== 4 && fam !== 6)
    throw new TunError('CORRIDOR_ERR_TUN_INVALID_ARG', `invalid route destination ${JSON.stringify(to)}`);
  return { dest: to, family: fam };
}

function runIp(args: string[], operation: string, ifname: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(IP_COMMAND, args, { timeout: 10_000, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const spawnCode = (err as NodeJS.ErrnoException).code;
      if (spawnCode === 'ENOENT') {
        return reject(
          new TunError(
            'CORRIDOR_ERR_TUN_COMMAND',
            `${operation} on ${ifname} failed: '${IP_COMMAND}' not found`,
            {
              syscall: operation,
              hint: 'install iproute2 (apt-get install iproute2)',
              cause: err,
            },
          ),
        );
      }
      const text = String(stderr || err.message).trim();
      const known: [RegExp, string, number, string | undefined][] = [
        [/Operation not permitted|Permission denied/i, 'EPERM', 1, HINT_EPERM],
        [/File exists/i, 'EEXIST', 17, 'the address or route is already present'],
        [
          /Cannot find device|No such device/i,
          'ENODEV',
          19,
          `"${ifname}" does not exist in this network namespace`,
        ],
        [
          /No such process|Cannot assign requested address/i,
          'ESRCH',
          3,
          'the address or route is not present',
        ],
        [
          /Network is unreachable|Nexthop has invalid gateway/i,
          'ENETUNREACH',
          101,
          'the gateway is not reachable on a configured prefix',
        ],
        [/Invalid argument/i, 'EINVAL', 22, undefined],
      ];
      for (const [re, code, errno, hint] of known) {
        if (re.test(text)) {
          return reject(
            new TunError(`CORRIDOR_ERR_TUN_${code}`, `${operation} on ${ifname} failed: ${text}`, {
              errno,
              syscall: operation,
              hint,
              cause: err,
            }),
          );
        }
      }
      reject(
        new TunError('CORRIDOR_ERR_TUN_COMMAND', `${operation} on ${ifname} failed: ${text}`, {
          syscall: operation,
          cause: err,
        }),
      );
    });
  });
}

export function addAddress(ifname: string, cidr: string): Promise<void> {
  validateTunName(ifname);
  const c = parseCidr(cidr);
  const args = [`-${c.family}`, 'addr', 'add', `${c.address}/${c.prefix}`, 'dev', ifname];
  // IPv6: skip duplicate address detection, the address is ours the moment the interface is up.
  if (c.family === 6) args.push('nodad');
  return runIp(args, 'ip addr add', ifname);
}

export function removeAddress(ifname: string, cidr: string): Promise<void> {
  validateTunName(ifname);
  const c = parseCidr(cidr);
  return runIp(
    [`-${c.family}`, 'addr', 'del', `${c.address}/${c.prefix}`, 'dev', ifname],
    'ip addr del',
    ifname,
  );
}

function routeArgs(
  verb: 'add' | 'del' | 'replace',
  ifname: string,
  to: string,
  opts: RouteOptions & { family?: 4 | 6 },
): string[] {
  validateTunName(ifname);
  const t = routeTarget(to);
  let family = t.family || opts.family || 4;
  const args = ['route', verb, t.dest, 'dev', ifname];
  if (opts.via !== undefined) {
    const fam = isIP(opts.via);
    if (fam === 0 || (t.family && fam !== t.family)) {
      throw new TunError(
        'CORRIDOR_ERR_TUN_INVALID_ARG',
        `invalid gateway ${JSON.stringify(opts.via)} for ${to}`,
      );
    }
    family = fam as 4 | 6;
    args.push('via', opts.via);
  }
  if (opts.src !== undefined) {
    if (isIP(opts.src) !== family)
      throw new TunError('CORRIDOR_ERR_TUN_INVALID_ARG', `invalid src ${JSON.stringify(opts.src)}`);
    args.push('src', opts.src);
  }
  if (opts.metric !== undefined) {
    if (!Number.isInteger(opts.metric) || opts.metric < 0)
      throw new TunError('CORRIDOR_ERR_TUN_INVALID_ARG', 'metric must be a non-negative integer');
    args.push('metric', String(opts.metric));
  }
  if (opts.table !== undefined) {
    if (!Number.isInteger(opts.table) || opts.table < 0)
      throw new TunError('CORRIDOR_ERR_TUN_INVALID_ARG', 'table must be a non-negative integer');
    args.push('table', String(opts.table));
  }
  return [`-${family}`, ...args];
}

/** Adds a route via the interface. `to`: CIDR, host address or 'default' (IPv4 unless `family: 6`). */
export function addRoute(
  ifname: string,
  to: string,
  opts: RouteOptions & { family?: 4 | 6 } = {},
): Promise<void> {
  return runIp(routeArgs('add', ifname, to, opts), 'ip route add', ifname);
}

export function removeRoute(
  ifname: string,
  to: string,
  opts: RouteOptions & { family?: 4 | 6 } = {},
): Promise<void> {
  return runIp(routeArgs('del', ifname, to, opts), 'ip route del', ifname);
}

/** Sets the MTU with SIOCSIFMTU (68..65535). */
export function setMtu(ifname: string, mtu: number): void {
  validateTunName(ifname);
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new TunError('CORRIDOR_ERR_TUN_INVALID_ARG', `invalid MTU ${mtu} (68..65535)`);
  }
  try {
    loadNative().setMtu(ifname, mtu);
  } catch (err) {
    throw fromNativeError(err, ifname);
  }
}

export function getMtu(ifname: string): number {
  validateTunName(ifname);
  try {
    return loadNative().getMtu(ifname);
  } catch (err) {
    throw fromNativeError(err, ifname);
  }
}

/** Sets how many packets the kernel queues for the reader before dropping (SIOCSIFTXQLEN). */
export function setTxQueueLen(ifname: string, len: number): void {
  validateTunName(ifname);
  if (!Number.isInteger(len) || len < 1 || len > 1_000_000) {
    throw new TunError('CORRIDOR_ERR_TUN_INVALID_ARG', `invalid txQueueLen ${len} (1..1000000)`);
  }
  try {
    loadNative().setTxQueueLen(ifname, len);
  } catch (err) {
    throw fromNativeError(err, ifname);
  }
}

/** Brings the interface up or down (SIOCSIFFLAGS). */
export function setUp(ifname: string, up: boolean): void {
  validateTunName(ifname);
  try {
    loadNative().setUp(ifname, up);
  } catch (err) {
    throw fromNativeError(err, ifname);
  }
}

/** Applies MTU and queue length, then addresses, then up, then routes (routes need the interface up). */
export async function configureInterface(ifname: string, config: InterfaceConfig): Promise<void> {
  if (config.mtu !== undefined) setMtu(ifname, config.mtu);
  if (config.txQueueLen !== undefined) setTxQueueLen(ifname, config.txQueueLen);
  for (const a of config.addresses ?? []) await addAddress(ifname, a);
  if (config.up !== undefined) setUp(ifname, config.up);
  for (const r of config.routes ?? []) await addRoute(ifname, r.to, r);
}
