/**
 * The client's TUN interface: created with the kernel picking the number (`corridor%d`), then MTU,
 * the addresses the node assigned, and up. A non-persistent TUN disappears with its last file
 * descriptor, so a crashed vpnctl leaves no interface behind (and its routes go with it).
 */
import { openTun, TunError, type LinuxTun } from '@corridor/tun';
import type { TunnelParams } from '@corridor/protocol';
import { CLI_ERROR_CODES, UserError } from '../errors.js';

export const TUN_NAME_PATTERN = 'corridor%d';

export function tunError(e: unknown): Error {
  if (!(e instanceof TunError)) return e as Error;
  const cause = { cause: e };
  switch (e.code) {
    case 'CORRIDOR_ERR_TUN_EPERM':
    case 'CORRIDOR_ERR_TUN_EACCES':
      return new UserError(
        CLI_ERROR_CODES.NOT_PERMITTED,
        'cannot create the tunnel interface: not permitted (needs CAP_NET_ADMIN)',
        'run vpnctl connect as root (sudo)',
        cause,
      );
    case 'CORRIDOR_ERR_TUN_ENOENT':
    case 'CORRIDOR_ERR_TUN_ENODEV':
      return new UserError(
        CLI_ERROR_CODES.TUN_UNAVAILABLE,
        'the TUN driver is not available (/dev/net/tun is missing)',
        'load it with `modprobe tun`; in a container, pass the device in (--device /dev/net/tun)',
        cause,
      );
    case 'CORRIDOR_ERR_TUN_NOT_BUILT':
      return new UserError(
        CLI_ERROR_CODES.TUN_UNAVAILABLE,
        'the TUN addon of vpnctl is not built',
        'reinstall vpnctl (pnpm install builds it; needs python3, make and a C compiler)',
        cause,
      );
    default:
      return new UserError(
        CLI_ERROR_CODES.TUN_UNAVAILABLE,
        `cannot set up the tunnel interface: ${e.message}`,
        e.hint,
        cause,
      );
  }
}

export function openClientTun(name = TUN_NAME_PATTERN): LinuxTun {
  try {
    // TCP offloads: the kernel hands over (and takes) TCP super-packets, so its TCP/IP work runs once
    // per 64 KiB instead of once per segment; the addon cuts and coalesces them (as on the node).
    return openTun({ name, batchSize: 64, offload: true });
  } catch (e) {
    throw tunError(e);
  }
}

/** Applies MTU, addresses and up. Addresses from an earlier session (reconnect) are replaced. */
export async function configureTun(
  tun: LinuxTun,
  params: TunnelParams,
  previous?: TunnelParams | null,
): Promise<void> {
  try {
    tun.setMtu(params.mtu);
    tun.setTxQueueLen(1000);
    const want = [`${params.clientIPv4}/${params.clientIPv4Prefix}`];
    if (params.clientIPv6) want.push(`${params.clientIPv6}/${params.clientIPv6Prefix}`);
    const had = previous
      ? [
          `${previous.clientIPv4}/${previous.clientIPv4Prefix}`,
          ...(previous.clientIPv6 ? [`${previous.clientIPv6}/${previous.clientIPv6Prefix}`] : []),
        ]
      : [];
    for (const a of had) if (!want.includes(a)) await tun.removeAddress(a).catch(() => undefined);
    for (const a of want) if (!had.includes(a)) await tun.addAddress(a);
    tun.setUp(true);
  } catch (e) {
    throw tunError(e);
  }
}
