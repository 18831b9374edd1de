/** Client addresses as the controller records and rate-limits them. */
import net from 'node:net';

/**
 * The client address without decoration: proxies may write X-Forwarded-For entries with a port
 * (`198.51.100.7:4711`, `[2001:db8::1]:443`), which would otherwise make every source port a client
 * of its own. IPv4-mapped IPv6 becomes IPv4. Anything that is not an IP address becomes `invalid`
 * (one shared, bounded key rather than an attacker-chosen string).
 */
export function normalizeClientIp(raw: string): string {
  let ip = raw.trim();
  const bracketed = /^\[([^\]]{1,64})\](?::\d{1,5})?$/.exec(ip);
  if (bracketed) ip = bracketed[1]!;
  else {
    const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(ip);
    if (v4port) ip = v4port[1]!;
  }
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) ip = mapped[1]!;
  const bare = ip.split('%')[0]!;
  return net.isIP(bare) === 0 ? 'invalid' : ip;
}

/**
 * The rate-limit key of a client address: an IPv4 address as is (also when IPv4-mapped), an IPv6
 * address by its /64. A single IPv6 host usually holds a whole /64, so keying on the full address
 * would give one client 2^64 separate budgets.
 */
export function rateLimitKey(ip: string): string {
  const normalized = normalizeClientIp(ip);
  if (normalized === 'invalid') return normalized;
  const addr = normalized.split('%')[0]!;
  if (!net.isIPv6(addr)) return addr;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(addr);
  if (mapped) return mapped[1]!;
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  // A trailing dotted quad is two groups (it lies in the low 64 bits, so its value does not matter).
  const groups = (s: string | undefined) =>
    s ? s.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : [];
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return `${all
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
