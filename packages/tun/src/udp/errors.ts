// Errors raised by @corridor/tun/udp: every socket failure names the operation, the errno and a hint.
import { errnoName } from '../errors.js';

export type UdpErrorCode =
  | 'CORRIDOR_ERR_UDP_INVALID_ARG'
  | 'CORRIDOR_ERR_UDP_CLOSED'
  | 'CORRIDOR_ERR_UDP_NOT_BUILT'
  | 'CORRIDOR_ERR_UDP_SLAB_DETACHED'
  | `CORRIDOR_ERR_UDP_${string}`;

export class UdpError extends Error {
  override readonly name = 'UdpError';
  readonly code: UdpErrorCode;
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  readonly hint: string | undefined;

  constructor(
    code: UdpErrorCode,
    message: string,
    options: { errno?: number; syscall?: string; hint?: string; cause?: unknown } = {},
  ) {
    super(options.hint ? `${message} (hint: ${options.hint})` : message, { cause: options.cause });
    this.code = code;
    this.errno = options.errno;
    this.syscall = options.syscall;
    this.hint = options.hint;
  }
}

const EXTRA_NAMES: Record<number, string> = {
  98: 'EADDRINUSE',
  99: 'EADDRNOTAVAIL',
  97: 'EAFNOSUPPORT',
  111: 'ECONNREFUSED',
  113: 'EHOSTUNREACH',
  101: 'ENETUNREACH',
  90: 'EMSGSIZE',
  105: 'ENOBUFS',
  88: 'ENOTSOCK',
};

export function udpErrnoName(errno: number): string {
  return EXTRA_NAMES[Math.abs(errno)] ?? errnoName(errno);
}

/** What to do about a socket errno, or undefined. */
export function udpHint(name: string, syscall: string, where: string): string | undefined {
  switch (name) {
    case 'EADDRINUSE':
      return `${where} is already in use by another socket (stop the other process, pick another port, or use reusePort on every socket sharing it)`;
    case 'EACCES':
    case 'EPERM':
      return syscall === 'bind'
        ? `binding ${where} needs privileges (ports below 1024 need root or CAP_NET_BIND_SERVICE: setcap cap_net_bind_service+ep $(which node))`
        : 'a firewall rule or missing privilege refused the operation';
    case 'EADDRNOTAVAIL':
      return `${where}: the address is not configured on any interface of this host (network namespace)`;
    case 'EAFNOSUPPORT':
      return 'IPv6 is disabled on this host; bind an IPv4 address instead';
    case 'EMSGSIZE':
      return 'datagram larger than the path MTU allows; lower the tunnel MTU';
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return 'no route to the destination from this host';
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files: raise the fd limit (ulimit -n)';
    default:
      return undefined;
  }
}

export function udpErrnoError(syscall: string, errno: number, where: string, code?: string): UdpError {
  const name = code ?? udpErrnoName(errno);
  return new UdpError(`CORRIDOR_ERR_UDP_${name}`, `${syscall} ${where} failed: ${name} (errno ${errno})`, {
    errno,
    syscall,
    hint: udpHint(name, syscall, where),
  });
}

export const HINT_UDP_SLAB_DETACHED =
  'a datagram handler detached the receive slab (e.g. batch.slab.buffer.transfer()); copy datagrams ' +
  'out of a batch instead (Buffer.from(batch.datagram(i))) — the slab belongs to the socket';

/** A buffer shared with the addon was detached: the socket stopped receiving (and closes). */
export function udpSlabDetachedError(where: string): UdpError {
  return new UdpError(
    'CORRIDOR_ERR_UDP_SLAB_DETACHED',
    `recvmmsg ${where} stopped: a buffer shared with the UDP addon was detached`,
    { errno: 14, syscall: 'recvmmsg', hint: HINT_UDP_SLAB_DETACHED },
  );
}
