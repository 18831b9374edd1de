// Interface name rules, enforced here and again in native/tun_linux.c (valid_ifname).
import { TunError } from './errors.js';

/** Linux IFNAMSIZ: names are at most IFNAMSIZ - 1 = 15 bytes. */
export const IFNAMSIZ = 16;

const NAME_RE = /^[A-Za-z0-9_.-]*(?:%d)?[A-Za-z0-9_.-]*$/;

/**
 * Why `name` is not a valid TUN interface name, or undefined when it is. Allowed: 1..15 ASCII characters
 * out of A-Z a-z 0-9 _ . - with at most one "%d" (the kernel substitutes a free number), not "." or "..".
 */
export function tunNameProblem(name: string): string | undefined {
  if (typeof name !== 'string') return 'must be a string';
  if (name.length === 0) return 'must not be empty (omit the name to let the kernel choose one)';
  if (Buffer.byteLength(name) >= IFNAMSIZ) return `must be shorter than ${IFNAMSIZ} bytes`;
  if (name === '.' || name === '..') return 'must not be "." or ".."';
  if (!NAME_RE.test(name)) return 'may only contain A-Z a-z 0-9 _ . - and at most one "%d"';
  return undefined;
}

export function isValidTunName(name: string): boolean {
  return tunNameProblem(name) === undefined;
}

/** Throws TunError('CORRIDOR_ERR_TUN_INVALID_NAME') for an invalid name. */
export function validateTunName(name: string): string {
  const problem = tunNameProblem(name);
  if (problem) {
    throw new TunError(
      'CORRIDOR_ERR_TUN_INVALID_NAME',
      `invalid interface name ${JSON.stringify(name)}: ${problem}`,
    );
  }
  return name;
}
