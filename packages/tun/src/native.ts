// Loads the compiled addon (build/Release/corridor_tun.node) and describes its raw, untyped surface.
// Resolves the same from src/ (tests, tsx) and dist/ (after tsc): both sit one level below the package.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TunError } from './errors.js';

/** Opaque handle of an attached fd (a napi External). */
export type NativeHandle = { readonly __brand: 'CorridorTunHandle' };

/** Indices into the shared stats Float64Array (mirror of the enum in native/tun_linux.c). */
export const STAT = {
  rxPackets: 0,
  rxBytes: 1,
  rxBatches: 2,
  txPackets: 3,
  txBytes: 4,
  txEagain: 5,
  txErrors: 6,
  txLastErrno: 7,
  rxGso: 8,
  rxDropped: 9,
  txGso: 10,
  txCoalesced: 11,
} as const;
export const STAT_COUNT = 12;

export interface NativeTun {
  /**
   * Opens /dev/net/tun and TUNSETIFF (IFF_TUN | IFF_NO_PI [| IFF_MULTI_QUEUE] [| IFF_VNET_HDR]); with
   * `offload` also TUNSETOFFLOAD(CSUM | TSO4 | TSO6), `offloadOn` telling whether the kernel took it.
   * Throws {errno, code, syscall}.
   */
  open(
    name: string,
    multiQueue: boolean,
    nonBlocking: boolean,
    offload?: boolean,
  ): [fd: number, name: string, offloadOn: boolean];
  /** Closes an fd that was never attached. */
  closeFd(fd: number): void;
  getMtu(name: string): number;
  setMtu(name: string, mtu: number): void;
  setUp(name: string, up: boolean): void;
  setTxQueueLen(name: string, len: number): void;
  /**
   * Starts managing `fd` (the handle owns it from now on; close it with `close(handle)`).
   * `slab` (>= MAX_PACKET bytes), `meta` (>= 2*batch) and `stats` (8, or 12 with `vnet`) stay referenced by the addon until
   * `onClose` has fired. `onRead(count)`: meta[2i] / meta[2i+1] are offset / length of packet i in slab,
   * valid only until onRead returns. If any of the three is detached meanwhile (e.g. transfer()),
   * reading stops before the next batch and `onError(EFAULT, 'slab')` reports it. `vnet` must be true
   * exactly when the fd was opened with `offload` (every read and write then carries a virtio_net_hdr).
   */
  attach(
    fd: number,
    slab: Uint8Array,
    meta: Uint32Array,
    stats: Float64Array,
    batch: number,
    onRead: (count: number) => void,
    onWritable: () => void,
    onError: (errno: number, syscall: string) => void,
    onClose: () => void,
    vnet?: boolean,
  ): NativeHandle;
  readStart(handle: NativeHandle): void;
  readStop(handle: NativeHandle): void;
  ref(handle: NativeHandle, on: boolean): void;
  /** 1 written, 0 EAGAIN (UV_WRITABLE armed, onWritable follows), -errno on other failure (-EBADF after close). */
  write(handle: NativeHandle, packet: Uint8Array): number;
  /**
   * Number of packets consumed (written or dropped on a non-EAGAIN error); stops at the first EAGAIN.
   * `lengths[0..count)` is read once (copied before validation). With `errnos`, the errno of the k-th
   * packet rejected by this call is stored in errnos[k] (for k < errnos.length).
   */
  /** writeBatch in one call: the same contract as writeSlab for an array of packets (each a Uint8Array). */
  writeVec(handle: NativeHandle, packets: Uint8Array[], errnos?: Int32Array): number;
  writeSlab(
    handle: NativeHandle,
    slab: Uint8Array,
    lengths: Uint32Array,
    count: number,
    errnos?: Int32Array,
  ): number;
  /** Idempotent; onClose fires once the fd is closed. */
  close(handle: NativeHandle): void;
  readonly MAX_PACKET: number;
}

const ADDON_RELATIVE = '../build/Release/corridor_tun.node';
let cached: NativeTun | undefined;
let cachedError: TunError | undefined;

/** The addon, or a TunError('CORRIDOR_ERR_TUN_NOT_BUILT' | 'CORRIDOR_ERR_TUN_UNSUPPORTED') explaining why not. */
export function loadNative(): NativeTun {
  if (cached) return cached;
  if (cachedError) throw cachedError;
  try {
    cached = loadAddonAt(fileURLToPath(new URL(ADDON_RELATIVE, import.meta.url)));
    return cached;
  } catch (err) {
    cachedError = err as TunError;
    throw err;
  }
}

/** Loads the addon from `path` (exported for tests); throws TunError with a build hint. */
export function loadAddonAt(path: string, platform: string = process.platform): NativeTun {
  if (platform !== 'linux') {
    throw new TunError('CORRIDOR_ERR_TUN_UNSUPPORTED', `TUN devices are only supported on Linux`, {
      hint: 'use MemoryTun from @corridor/tun/testing on other platforms',
    });
  }
  if (!existsSync(path)) {
    throw new TunError(
      'CORRIDOR_ERR_TUN_NOT_BUILT',
      `the @corridor/tun native addon is not built (${path})`,
      {
        hint:
          'run `pnpm install` at the repository root (@corridor/tun must be listed in onlyBuiltDependencies) ' +
          'or `pnpm --filter @corridor/tun run build:native`; needs python3, make and a C compiler',
      },
    );
  }
  try {
    return createRequire(import.meta.url)(path) as NativeTun;
  } catch (cause) {
    throw new TunError(
      'CORRIDOR_ERR_TUN_NOT_BUILT',
      `the @corridor/tun native addon failed to load (${path})`,
      {
        hint: 'rebuild it for this Node version: `pnpm --filter @corridor/tun run build:native`',
        cause,
      },
    );
  }
}

/** True when the addon can be loaded (does not throw). */
export function isNativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}
