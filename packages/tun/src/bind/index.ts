// @corridor/tun/bind: the transport seam of tunnel endpoints (UDP, TCP, in-memory). See bind.ts for the
// contract and README.md "Bind" for buffer ownership.
export {
  SendSlab,
  type Bind,
  type BindEndpoint,
  type BindEvents,
  type BindStats,
  type ReceiveHandler,
  type ReceivedBatch,
  type Transport,
} from './bind.js';
export { UdpBind } from './udp-bind.js';
export {
  TcpServerBind,
  TcpClientBind,
  TcpEndpoint,
  type TcpBindOptions,
  type TcpServerOptions,
  type TcpClientOptions,
} from './tcp-bind.js';
export {
  MemoryBind,
  MemoryNetwork,
  MemoryEndpoint,
  createMemoryNetwork,
  type MemoryNetworkOptions,
} from './memory-bind.js';
export { UdpEndpoint } from '../udp/endpoint.js';
