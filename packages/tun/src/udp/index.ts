// @corridor/tun/udp: a batched UDP socket for Node.js on Linux (own N-API addon: recvmmsg/sendmmsg,
// UDP GSO/GRO). See README.md "Batched UDP" for the buffer-ownership contract.
export {
  UdpSocket,
  openUdpSocket,
  isUdpAvailable,
  DatagramBatch,
  DatagramSlab,
  type DatagramHandler,
  type UdpSocketOptions,
  type UdpSocketEvents,
  type UdpStats,
} from './socket.js';
export { UdpEndpoint, META_WORDS } from './endpoint.js';
export { UdpError, type UdpErrorCode } from './errors.js';
