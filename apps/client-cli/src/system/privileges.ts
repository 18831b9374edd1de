/** Whether this process may create TUN devices and change routes (CAP_NET_ADMIN), checked up front. */
import { readFileSync } from 'node:fs';
import { CLI_ERROR_CODES, UserError } from '../errors.js';

const CAP_NET_ADMIN = 12n;

export function hasNetAdmin(): boolean {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    if (!m) return process.getuid?.() === 0;
    return ((BigInt(`0x${m[1]}`) >> CAP_NET_ADMIN) & 1n) === 1n;
  } catch {
    return process.getuid?.() === 0;
  }
}

export function requireNetAdmin(action: string): void {
  if (hasNetAdmin()) return;
  throw new UserError(
    CLI_ERROR_CODES.NOT_PERMITTED,
    `${action} needs root (CAP_NET_ADMIN): it creates a network interface and changes routes`,
    'run it with sudo, e.g. `sudo vpnctl connect auto` (your login is read from the config dir of the user sudo runs as; use `sudo -E` to keep yours)',
  );
}
