// Socket errors of the Node-style API. Connection failures carry the errno-style code Node's own
// net.Socket uses for the same failure (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...), so code written for
// net.Socket (a SOCKS server mapping errors to replies, an HTTP client) works unchanged; `hint` says
// what usually causes it. Misuse of the API throws NetstackError with a CORRIDOR_ERR_NETSTACK_* code.
import type { TcpError } from '../tcp/tcb.js';
import type { UdpError } from '../udp/udp-socket.js';

export type SocketErrorCode = TcpError | UdpError | 'EPIPE' | 'ERR_STREAM_DESTROYED';

const HINTS: Record<SocketErrorCode, string> = {
  ECONNREFUSED: 'the destination answered with a reset or ICMP unreachable: nothing listens on that port',
  ECONNRESET: 'the peer reset the connection',
  ETIMEDOUT:
    'no answer from the peer after all retransmissions (path down, or packets not delivered to the stack)',
  EHOSTUNREACH: 'an ICMP error says the host cannot be reached',
  ENETUNREACH: 'an ICMP error says the network cannot be reached',
  ECONNABORTED:
    'the stack was closed, or an accept-any request expired (tcp.requestTimeoutMs) or was reset by the client before accept()',
  EPIPE: 'the connection is no longer writable',
  ERR_STREAM_DESTROYED: 'the socket was destroyed',
};

export class SocketError extends Error {
  readonly errno: SocketErrorCode;
  readonly hint: string;

  constructor(
    readonly code: SocketErrorCode,
    readonly syscall: 'connect' | 'read' | 'write' | 'send',
    readonly address?: string,
    readonly port?: number,
  ) {
    const hint = HINTS[code];
    super(`${syscall} ${code}${address !== undefined ? ` ${address}:${port ?? ''}` : ''} (${hint})`);
    this.name = 'SocketError';
    this.errno = code;
    this.hint = hint;
  }
}
