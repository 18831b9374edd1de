// Test doubles and packet helpers for code that uses a TunDevice (no root, no kernel needed).
export { MemoryTun, createMemoryTunPair, type MemoryTunOptions } from './memory-tun.js';
export {
  buildIpv4Udp,
  writeIpv4Udp,
  parseIpv4,
  parseIpv4Udp,
  icmpEchoReply,
  internetChecksum,
  ipv4ToBytes,
  bytesToIpv4,
  type BuildUdpOptions,
  type Ipv4Header,
  type UdpDatagram,
} from './packets.js';
