// @corridor/tun: kernel TUN devices for Node.js (Linux, own N-API addon) behind the TunDevice seam.
// In-memory doubles for tests live in '@corridor/tun/testing'.
export type { TunDevice, TunDeviceEvents, PacketBatch, PacketHandler, TunStats } from './tun-device.js';
export { BaseTun } from './tun-device.js';
export { LinuxTun, openTun, type LinuxTunOptions, type TunOffloadStats } from './linux-tun.js';
export {
  addAddress,
  removeAddress,
  addRoute,
  removeRoute,
  setMtu,
  getMtu,
  setUp,
  setTxQueueLen,
  configureInterface,
  parseCidr,
  IP_COMMAND,
  type InterfaceConfig,
  type RouteOptions,
} from './ip-config.js';
export { IFNAMSIZ, isValidTunName, tunNameProblem, validateTunName } from './name.js';
export { TunError, type TunErrorCode, type TunErrorOptions, HINT_EPERM, HINT_ENOENT } from './errors.js';
export { isNativeAvailable } from './native.js';
