// @corridor/netstack: a userspace TCP/IP stack (sans-IO engine + Node-style sockets).
export { Stack, DEFAULT_UDP_CONFIG } from './stack.js';
export { NetstackError, type NetstackErrorCode } from './errors.js';
export type {
  StackOptions,
  StackStats,
  StackLimits,
  UdpConfig,
  IcmpEchoRequest,
  RejectHow,
} from './stack.js';
export { DROP_REASONS, type DropReason, type DropCounters } from './drop-reasons.js';
export { IpAddr, parseIp, formatIp, normalizeIp, type IpFamily } from './wire/address.js';
export { DEFAULT_TCP_CONFIG, type TcpConfig } from './tcp/config.js';
export {
  Tcb,
  TcpState,
  TCP_STATE_NAMES,
  EV_CONNECTED,
  EV_READABLE,
  EV_WRITABLE,
  EV_EOF,
  EV_CLOSED,
  type TcpHandler,
  type TcpError,
  type TcpStateName,
  type TcpCounters,
} from './tcp/tcb.js';
export { TcpListener, type ListenerHandler } from './tcp/listener.js';
export {
  UdpEndpoint,
  UdpFlow,
  UdpAnyListener,
  type UdpDatagramRecord,
  type UdpHandler,
  type UdpAnyHandler,
  type UdpError,
} from './udp/udp-socket.js';
export type { CongestionControl, CongestionControlName } from './tcp/congestion/index.js';
export { Netstack, type NetstackOptions, type ConnectOptions } from './api/netstack.js';
export { TcpSocket, type TcpSocketOptions } from './api/tcp-socket.js';
export { TcpServer, AnyServer, ConnectionRequest } from './api/servers.js';
export { UdpSocket, UdpFlowSocket, UdpAnyServer, type RemoteInfo } from './api/udp-socket.js';
export { SocketError, type SocketErrorCode } from './api/errors.js';
