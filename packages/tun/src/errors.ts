// Errors raised by @corridor/tun. Every kernel failure names the operation, the errno and a hint.

/** Stable error codes; errno-derived ones are `CORRIDOR_ERR_TUN_<ERRNO NAME>`. */
export type TunErrorCode =
  | 'CORRIDOR_ERR_TUN_INVALID_NAME'
  | 'CORRIDOR_ERR_TUN_INVALID_ARG'
  | 'CORRIDOR_ERR_TUN_CLOSED'
  | 'CORRIDOR_ERR_TUN_NOT_BUILT'
  | 'CORRIDOR_ERR_TUN_UNSUPPORTED'
  | 'CORRIDOR_ERR_TUN_COMMAND'
  | 'CORRIDOR_ERR_TUN_SLAB_DETACHED'
  | `CORRIDOR_ERR_TUN_${string}`;

export interface TunErrorOptions {
  /** Positive errno, when the failure comes from a system call. */
  errno?: number;
  /** The failed operation, e.g. 'ioctl(TUNSETIFF)', 'read', 'ip route add'. */
  syscall?: string;
  /** What to do about it; also appended to the message. */
  hint?: string;
  cause?: unknown;
}

export class TunError extends Error {
  override readonly name = 'TunError';
  readonly code: TunErrorCode;
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  readonly hint: string | undefined;

  constructor(code: TunErrorCode, message: string, options: TunErrorOptions = {}) {
    super(options.hint ? `${message} (hint: ${options.hint})` : message, { cause: options.cause });
    this.code = code;
    this.errno = options.errno;
    this.syscall = options.syscall;
    this.hint = options.hint;
  }
}

export const HINT_EPERM =
  'needs CAP_NET_ADMIN (run as root or grant the capability: setcap cap_net_admin+ep $(which node))';
export const HINT_ENOENT =
  'load the tun module (modprobe tun) / create /dev/net/tun (mknod /dev/net/tun c 10 200)';

/** Hint for an errno name in the context of an operation; undefined when there is nothing useful to say. */
export function hintFor(code: string, operation: string, ifname?: string): string | undefined {
  const dev = ifname ? `"${ifname}"` : 'the interface';
  switch (code) {
    case 'EPERM':
    case 'EACCES':
      return HINT_EPERM;
    case 'ENOENT':
      return operation.includes('/dev/net/tun')
        ? HINT_ENOENT
        : `${dev} does not exist (in this network namespace?)`;
    case 'ENODEV':
      return operation.includes('/dev/net/tun')
        ? 'the tun driver is not available: ' + HINT_ENOENT
        : `${dev} does not exist (in this network namespace?)`;
    case 'EBUSY':
      return `the name ${dev} is in use by another process (or by a device opened without multiQueue)`;
    case 'EINVAL':
      return operation.includes('TUNSETIFF')
        ? `${dev} exists but is not a TUN device with the same flags (TAP, or multiQueue mismatch), or the name is invalid`
        : undefined;
    case 'EBADFD':
    case 'EBADF':
      return `${dev} was detached or deleted while in use`;
    case 'EIO':
      return `${dev} is down or was removed; bring it up before writing`;
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files: close unused devices or raise the fd limit (ulimit -n)';
    default:
      return undefined;
  }
}

/** Errno name from a negative/positive errno number (Linux); falls back to `E<n>`. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[Math.abs(errno)] ?? `E${Math.abs(errno)}`;
}

// The errnos TUN and interface operations produce in practice (Linux generic values).
const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  4: 'EINTR',
  5: 'EIO',
  9: 'EBADF',
  11: 'EAGAIN',
  12: 'ENOMEM',
  13: 'EACCES',
  14: 'EFAULT',
  16: 'EBUSY',
  17: 'EEXIST',
  19: 'ENODEV',
  22: 'EINVAL',
  23: 'ENFILE',
  24: 'EMFILE',
  28: 'ENOSPC',
  55: 'ENOANO',
  77: 'EBADFD',
  90: 'EMSGSIZE',
  95: 'EOPNOTSUPP',
  97: 'EAFNOSUPPORT',
  99: 'EADDRNOTAVAIL',
  100: 'ENETDOWN',
  101: 'ENETUNREACH',
  105: 'ENOBUFS',
};

export const HINT_SLAB_DETACHED =
  'a packet handler detached the read slab (e.g. batch.slab.buffer.transfer()); copy packets out ' +
  'of a batch instead (Buffer.from(batch.packet(i))) — the slab belongs to the device';

/** The read slab (or another buffer shared with the addon) was detached: the device stopped reading. */
export function slabDetachedError(ifname?: string): TunError {
  const where = ifname ? ` on ${ifname}` : '';
  return new TunError(
    'CORRIDOR_ERR_TUN_SLAB_DETACHED',
    `read${where} stopped: a buffer shared with the TUN addon was detached`,
    { errno: 14, syscall: 'read', hint: HINT_SLAB_DETACHED },
  );
}

/** Builds the TunError for a failed system call. */
export function errnoError(operation: string, errno: number, code?: string, ifname?: string): TunError {
  const name = code ?? errnoName(errno);
  const where = ifname ? ` on ${ifname}` : '';
  if (name === 'EACCES' && operation.includes('/dev/net/tun')) {
    // Same cause as EPERM from TUNSETIFF (no privilege), seen where /dev/net/tun is mode 0600: one code.
    return new TunError('CORRIDOR_ERR_TUN_EPERM', `${operation}${where} failed: EACCES (errno ${errno})`, {
      errno,
      syscall: operation,
      hint: `${HINT_EPERM}; this /dev/net/tun is also not accessible to this user (usually mode 0666)`,
    });
  }
  return new TunError(`CORRIDOR_ERR_TUN_${name}`, `${operation}${where} failed: ${name} (errno ${errno})`, {
    errno,
    syscall: operation,
    hint: hintFor(name, operation, ifname),
  });
}

/** Converts an error thrown by the addon ({ errno, code, syscall }) into a TunError. */
export function fromNativeError(err: unknown, ifname?: string): TunError {
  if (err instanceof TunError) return err;
  const e = err as { errno?: unknown; code?: unknown; syscall?: unknown; message?: unknown };
  if (typeof e?.errno === 'number' && typeof e.syscall === 'string') {
    const out = errnoError(e.syscall, e.errno, typeof e.code === 'string' ? e.code : undefined, ifname);
    return out;
  }
  if (e?.code === 'CORRIDOR_ERR_TUN_INVALID_ARG') {
    return new TunError('CORRIDOR_ERR_TUN_INVALID_ARG', String(e.message), { cause: err });
  }
  return new TunError('CORRIDOR_ERR_TUN_UNKNOWN', String(e?.message ?? err), { cause: err });
}
