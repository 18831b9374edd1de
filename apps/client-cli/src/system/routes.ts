/**
 * Routes for a connection, in the caller's network namespace (iproute2 `ip`, argv only).
 *
 * Full tunnel (default): 0.0.0.0/1 + 128.0.0.0/1 through the TUN — together they beat the default
 * route without touching it, so nothing of the user's routing table is replaced — and a host route
 * for the node's public address through the original gateway ("the pin"), so the tunnel's own packets
 * do not loop into the tunnel. IPv6: ::/1 + 8000::/1 through the TUN when the node gave us an IPv6
 * address; otherwise the same two prefixes as `unreachable` routes, so IPv6 cannot leak around the
 * tunnel (the classic VPN leak) and applications fall back to IPv4 at once instead of timing out.
 *
 * Split tunnel (--split): only the given prefixes (and the pushed DNS servers, so DNS does not leak)
 * through the TUN; the pin is added only when a split prefix covers the node itself.
 *
 * The controller's addresses (`outside`) are pinned the same way: while the tunnel is down (node
 * gone, reconnecting) a new ticket must still be fetchable, or a ticket that expired meanwhile
 * would keep the client out for good. The kill switch lets only its HTTPS port through.
 *
 * Every route is journaled before it is added (see journal.ts) and only ever `add`ed, never
 * `replace`d: a route that already exists belongs to someone else and is left alone.
 */
import { contains, familyOf, hostPrefix, parsePrefix, type Prefix } from './cidr.js';
import { CommandError, IP, run, systemError } from './exec.js';
import type { Change, Journal } from './journal.js';
import { CLI_ERROR_CODES, UserError } from '../errors.js';
import { promises as fs } from 'node:fs';

export interface RoutingOptions {
  readonly tun: string;
  readonly mode: 'full' | 'split';
  readonly split: readonly Prefix[];
  /** The node's public address (IP literal). */
  readonly endpoint: string;
  /** The node assigned an IPv6 address in the tunnel. */
  readonly tunnelIPv6: boolean;
  /** DNS servers that must be reached through the tunnel (empty with --no-dns). */
  readonly dnsServers: readonly string[];
  /** Other addresses that stay on the original route, like the node's (the controller's). */
  readonly outside?: readonly string[];
}

interface IpRoute {
  readonly dst: string;
  readonly gateway?: string;
  readonly dev?: string;
  readonly metric?: number;
  readonly type?: string;
  /** `ip route get`: the local address packets to the destination leave from. */
  readonly prefsrc?: string;
}

/** The route the kernel would use for `addr` right now. */
export async function routeGet(addr: string): Promise<IpRoute | undefined> {
  try {
    const out = await run(IP, ['-j', `-${familyOf(addr) === 6 ? 6 : 4}`, 'route', 'get', addr]);
    return (JSON.parse(out) as IpRoute[])[0];
  } catch (e) {
    if (e instanceof CommandError && /unreachable|No route/i.test(e.stderr)) return undefined;
    throw e;
  }
}

async function mainTable(family: 4 | 6): Promise<IpRoute[]> {
  const out = await run(IP, ['-j', `-${family}`, 'route', 'show', 'table', 'main']);
  return out.trim() ? (JSON.parse(out) as IpRoute[]) : [];
}

/**
 * The best route to `addr` in the main table that does not go through `tun` and is not a host route
 * for `addr` itself (that would be our own pin): longest prefix first, then lowest metric.
 */
export function underlyingRoute(routes: readonly IpRoute[], addr: string, tun: string): IpRoute | undefined {
  const family = familyOf(addr) === 6 ? 6 : 4;
  const host = hostPrefix(addr);
  let best: IpRoute | undefined;
  let bestLen = -1;
  for (const r of routes) {
    if (r.dev === undefined || r.dev === tun || (r.type && r.type !== 'unicast')) continue;
    if (r.dst === host || r.dst === addr) continue;
    const p = parsePrefix(r.dst === 'default' ? (family === 4 ? '0.0.0.0/0' : '::/0') : r.dst);
    if (!p.ok || !contains(p.prefix, addr)) continue;
    const prefix = p.prefix;
    if (prefix.length > bestLen || (prefix.length === bestLen && (r.metric ?? 0) < (best?.metric ?? 0))) {
      best = r;
      bestLen = prefix.length;
    }
  }
  return best;
}

function pinSpec(endpoint: string, via: IpRoute): string[] {
  return [hostPrefix(endpoint), ...(via.gateway ? ['via', via.gateway] : []), 'dev', via.dev!];
}

async function ipv6Disabled(): Promise<boolean> {
  try {
    return (await fs.readFile('/proc/sys/net/ipv6/conf/all/disable_ipv6', 'utf8')).trim() === '1';
  } catch {
    return true; // no IPv6 in this kernel at all
  }
}

export class Router {
  private pin: Extract<Change, { kind: 'route' }> | undefined;
  /** Pins of the `outside` addresses, by address. */
  private readonly outsidePins = new Map<string, Extract<Change, { kind: 'route' }> | undefined>();
  /** The local address tunnel packets leave from (to notice an address change). */
  private source: string | undefined;
  private readonly added: Extract<Change, { kind: 'route' }>[] = [];

  constructor(
    private readonly journal: Journal,
    private readonly o: RoutingOptions,
  ) {}

  /** Routes through the tunnel, as shown in status (`0.0.0.0/1`, `10.0.0.0/8`, ...). */
  get tunnelRoutes(): string[] {
    return this.added
      .filter((c) => c.spec.includes('dev') && c.spec[c.spec.indexOf('dev') + 1] === this.o.tun)
      .map((c) => c.spec[0]!);
  }

  get blockedIPv6(): boolean {
    return this.added.some((c) => c.spec[0] === 'unreachable');
  }

  get pinnedVia(): string | undefined {
    if (!this.pin) return undefined;
    const s = this.pin.spec;
    const via = s.indexOf('via');
    return `${via >= 0 ? `${s[via + 1]} ` : ''}dev ${s[s.indexOf('dev') + 1]}`;
  }

  private async add(
    family: 4 | 6,
    spec: string[],
    what: string,
    tolerateExisting = false,
  ): Promise<Extract<Change, { kind: 'route' }> | undefined> {
    const change = { kind: 'route', family, spec } as const;
    await this.journal.record(change);
    try {
      await run(IP, [`-${family}`, 'route', 'add', ...spec]);
      return change;
    } catch (e) {
      await this.journal.forget(change);
      if (e instanceof CommandError && e.exists) {
        if (tolerateExisting) return undefined;
        throw new UserError(
          CLI_ERROR_CODES.SYSTEM,
          `cannot add the route ${spec[0]}: a route for it already exists (is another VPN running?)`,
          `look at \`ip -${family} route show ${spec[0] === 'unreachable' ? spec[1] : spec[0]}\`; stop the other VPN first`,
          { cause: e },
        );
      }
      throw systemError(e, `add ${what}`);
    }
  }

  /** Adds the pin and the tunnel routes (journaled). */
  async apply(): Promise<void> {
    const { tun, endpoint } = this.o;
    const epFamily = familyOf(endpoint) === 6 ? 6 : 4;
    const needsPin = this.o.mode === 'full' || this.o.split.some((p) => contains(p, endpoint));
    if (needsPin) {
      const via = await routeGet(endpoint);
      if (via === undefined) {
        throw new UserError(
          CLI_ERROR_CODES.NODE_UNREACHABLE,
          `no route to the node's address ${endpoint}`,
          'check your network connection',
        );
      }
      if (via.dev === tun) {
        throw new UserError(
          CLI_ERROR_CODES.SYSTEM,
          `the route to the node ${endpoint} already goes through ${tun}`,
          'disconnect the previous connection first (vpnctl disconnect)',
        );
      }
      this.source = via.prefsrc;
      if (via.type !== 'local' && via.dev !== 'lo' && via.dev) {
        this.pin = await this.add(
          epFamily,
          pinSpec(endpoint, via),
          `the route to the node ${endpoint}`,
          true,
        );
      }
    }
    for (const addr of this.o.outside ?? []) {
      if (addr === endpoint || familyOf(addr) === 0) continue;
      if (this.o.mode !== 'full' && !this.o.split.some((p) => contains(p, addr))) continue;
      const via = await routeGet(addr);
      if (via === undefined || via.dev === tun || via.type === 'local' || via.dev === 'lo' || !via.dev)
        continue;
      this.outsidePins.set(
        addr,
        await this.add(
          familyOf(addr) === 6 ? 6 : 4,
          pinSpec(addr, via),
          `the route to the controller ${addr}`,
          true,
        ),
      );
    }
    if (this.o.mode === 'full') {
      for (const p of ['0.0.0.0/1', '128.0.0.0/1'])
        this.track(await this.add(4, [p, 'dev', tun], `the route ${p}`));
      if (this.o.tunnelIPv6) {
        for (const p of ['::/1', '8000::/1'])
          this.track(await this.add(6, [p, 'dev', tun], `the route ${p}`));
      } else {
        for (const p of ['::/1', '8000::/1']) {
          try {
            this.track(await this.add(6, ['unreachable', p], `the IPv6 block ${p}`));
          } catch (e) {
            if (!(await ipv6Disabled())) throw e;
          }
        }
      }
    } else {
      for (const p of this.o.split) {
        if (p.family === 6 && !this.o.tunnelIPv6) {
          throw new UserError(
            CLI_ERROR_CODES.INPUT,
            `cannot route ${p.text} through the tunnel: the node gave this connection no IPv6 address`,
            'split only IPv4 prefixes, or pick a node with IPv6',
          );
        }
        this.track(await this.add(p.family, [p.text, 'dev', tun], `the route ${p.text}`));
      }
      for (const d of this.o.dnsServers) {
        if (this.o.split.some((p) => contains(p, d))) continue;
        const f = familyOf(d) === 6 ? 6 : 4;
        if (f === 6 && !this.o.tunnelIPv6) continue;
        this.track(await this.add(f, [hostPrefix(d), 'dev', tun], `the route to the DNS server ${d}`, true));
      }
    }
  }

  private track(c: Extract<Change, { kind: 'route' }> | undefined): void {
    if (c) this.added.push(c);
  }

  /**
   * Follows a network change: re-pins the node's address through the current gateway and notices a
   * new local source address. Returns true when either changed (the tunnel must move).
   */
  async repin(): Promise<boolean> {
    const pinChanged = await this.repinRoute();
    for (const addr of this.outsidePins.keys()) {
      await this.repinOutside(addr).catch(() => undefined); // best effort: the node's pin matters most
    }
    const now = (await routeGet(this.o.endpoint).catch(() => undefined))?.prefsrc;
    const sourceChanged = now !== undefined && this.source !== undefined && now !== this.source;
    if (now !== undefined) this.source = now;
    return pinChanged || sourceChanged;
  }

  private async repinRoute(): Promise<boolean> {
    const current = this.pin;
    if (current === undefined && this.o.mode !== 'full') return false;
    const family = familyOf(this.o.endpoint) === 6 ? 6 : 4;
    const routes = await mainTable(family);
    const via = underlyingRoute(routes, this.o.endpoint, this.o.tun);
    if (!via) return false; // no way out at the moment; the reconnect loop retries
    const want = pinSpec(this.o.endpoint, via);
    const host = hostPrefix(this.o.endpoint);
    const present = routes.some(
      (r) => (r.dst === host || r.dst === this.o.endpoint) && r.dev === via.dev && r.gateway === via.gateway,
    );
    if (current && present && want.join(' ') === current.spec.join(' ')) return false;
    if (current) {
      await undoRoute(current).catch(() => undefined);
      await this.journal.forget(current);
      this.pin = undefined;
    }
    this.pin = await this.add(family, want, `the route to the node ${this.o.endpoint}`, true);
    return true;
  }

  /** Re-pins one `outside` address through the current underlying route (see repinRoute). */
  private async repinOutside(addr: string): Promise<void> {
    const current = this.outsidePins.get(addr);
    const family = familyOf(addr) === 6 ? 6 : 4;
    const routes = await mainTable(family);
    const via = underlyingRoute(routes, addr, this.o.tun);
    if (!via) return;
    const want = pinSpec(addr, via);
    const host = hostPrefix(addr);
    const present = routes.some(
      (r) => (r.dst === host || r.dst === addr) && r.dev === via.dev && r.gateway === via.gateway,
    );
    if (current && present && want.join(' ') === current.spec.join(' ')) return;
    if (current) {
      await undoRoute(current).catch(() => undefined);
      await this.journal.forget(current);
      this.outsidePins.set(addr, undefined);
    }
    this.outsidePins.set(addr, await this.add(family, want, `the route to the controller ${addr}`, true));
  }
}

/** Undoes a journaled route; a route that is already gone is fine. */
export async function undoRoute(change: Extract<Change, { kind: 'route' }>): Promise<void> {
  try {
    await run(IP, [`-${change.family}`, 'route', 'del', ...change.spec]);
  } catch (e) {
    if (e instanceof CommandError && (e.notFound || /Cannot find device|No such device/i.test(e.stderr)))
      return;
    throw e;
  }
}
