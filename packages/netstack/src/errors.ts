// Errors of the stack's API (never of the packet path, which counts drops instead): a
// CORRIDOR_ERR_NETSTACK_* code and a hint that names the fix. Connection failures are reported on the
// connection (Tcb.error, SocketError), not thrown.

export type NetstackErrorCode =
  | 'CORRIDOR_ERR_NETSTACK_INVALID_ADDRESS'
  | 'CORRIDOR_ERR_NETSTACK_INVALID_PORT'
  | 'CORRIDOR_ERR_NETSTACK_INVALID_OPTION'
  | 'CORRIDOR_ERR_NETSTACK_ADDRESS_IN_USE'
  | 'CORRIDOR_ERR_NETSTACK_NO_LOCAL_ADDRESS'
  | 'CORRIDOR_ERR_NETSTACK_CONNECTION_LIMIT'
  | 'CORRIDOR_ERR_NETSTACK_NO_PORTS'
  | 'CORRIDOR_ERR_NETSTACK_CLOSED';

const HINTS: Record<NetstackErrorCode, string> = {
  CORRIDOR_ERR_NETSTACK_INVALID_ADDRESS:
    'use numeric IPv4 or IPv6 text (resolve host names first, e.g. through the tunnel resolver)',
  CORRIDOR_ERR_NETSTACK_INVALID_PORT: 'ports are integers 1..65535 (0 only where an ephemeral port is meant)',
  CORRIDOR_ERR_NETSTACK_INVALID_OPTION: 'see the option table in packages/netstack/README.md',
  CORRIDOR_ERR_NETSTACK_ADDRESS_IN_USE: 'close the other listener or socket first, or pick another port',
  CORRIDOR_ERR_NETSTACK_NO_LOCAL_ADDRESS:
    "add an address of that family to the stack's addresses option (e.g. the tunnel address)",
  CORRIDOR_ERR_NETSTACK_CONNECTION_LIMIT: 'raise limits.maxConnections or close idle connections',
  CORRIDOR_ERR_NETSTACK_NO_PORTS:
    'too many connections to one destination: close some or add a local address',
  CORRIDOR_ERR_NETSTACK_CLOSED: 'the stack was closed; create a new one',
};

/** Thrown only by API misuse (never by input()): bad addresses, ports in use, limits, a closed stack. */
export class NetstackError extends Error {
  readonly hint: string;

  constructor(
    readonly code: NetstackErrorCode,
    message: string,
    hint?: string,
  ) {
    const h = hint ?? HINTS[code];
    super(`${message} (${h})`);
    this.name = 'NetstackError';
    this.hint = h;
  }
}
