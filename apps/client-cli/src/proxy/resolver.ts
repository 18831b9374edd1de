/**
 * Name resolution for the proxy, THROUGH THE TUNNEL: queries go as UDP over the netstack to the DNS
 * servers the node pushed, never to the local system resolver (a proxy that resolved locally would
 * leak every visited name to the local network). Numeric addresses pass through untouched.
 *
 * Contract:
 * - `lookup(name)` resolves with the addresses (IPv4 first, then IPv6 when the tunnel has IPv6) or
 *   rejects with a ResolveError whose `code` is 'ENOTFOUND' (no such name / no address), 'ENODNS'
 *   (the node pushed no DNS server) or 'ETIMEOUT' / 'ESERVFAIL' (servers silent or failing).
 * - Each query uses its own ephemeral UDP port and a random 16-bit id; answers that do not match
 *   both are ignored (counted by the stack, not us).
 * - Concurrent lookups of one name share one query; answers are cached for their TTL (1 s .. 5 min),
 *   at most MAX_CACHE names (oldest evicted).
 */
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import type { Netstack } from '@corridor/netstack';
import { buildDnsQuery, parseDnsAnswer, TYPE_A, TYPE_AAAA } from './dns-wire.js';

const MAX_CACHE = 1024;
const ATTEMPT_MS = 1_500;
const ATTEMPTS = 3;
const AAAA_GRACE_MS = 300;

export class ResolveError extends Error {
  constructor(
    readonly code: 'ENOTFOUND' | 'ENODNS' | 'ETIMEOUT' | 'ESERVFAIL',
    message: string,
  ) {
    super(message);
    this.name = 'ResolveError';
  }
}

export interface ResolverConfig {
  /** The stack of the current session (null while none). */
  readonly stack: () => Netstack | null;
  /** DNS servers the node pushed, and whether the tunnel carries IPv6. */
  readonly servers: () => readonly string[];
  readonly ipv6: () => boolean;
  readonly clock?: () => number;
}

export class TunnelResolver {
  queries = 0;
  failures = 0;
  private readonly cache = new Map<string, { addresses: string[]; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<string[]>>();
  private readonly clock: () => number;

  constructor(private readonly cfg: ResolverConfig) {
    this.clock = cfg.clock ?? (() => performance.now());
  }

  /** Forgets cached answers (new session: maybe another node and resolver). */
  clear(): void {
    this.cache.clear();
  }

  async lookup(name: string): Promise<string[]> {
    if (isIP(name)) return [name];
    const key = name.toLowerCase().replace(/\.$/, '');
    const hit = this.cache.get(key);
    if (hit && hit.expiresAt > this.clock()) return hit.addresses;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.resolve(key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async resolve(name: string): Promise<string[]> {
    const servers = this.cfg.servers();
    if (servers.length === 0) {
      throw new ResolveError('ENODNS', `cannot resolve ${name}: the node pushed no DNS server`);
    }
    const a = this.query(name, TYPE_A, servers);
    // AAAA in parallel when the tunnel has IPv6; once A answered, AAAA gets AAAA_GRACE_MS more
    // (a resolver that drops AAAA queries must not cost every lookup the whole retry schedule).
    const aaaa = this.cfg.ipv6()
      ? this.query(name, TYPE_AAAA, servers)
      : Promise.resolve({ addresses: [] as string[], ttl: 300 });
    const graced = Promise.race([
      aaaa,
      a.then(
        () =>
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new ResolveError('ETIMEOUT', 'AAAA: no answer')), AAAA_GRACE_MS),
          ),
        () => aaaa,
      ),
    ]);
    const results = await Promise.allSettled([a, graced]);
    const addresses: string[] = [];
    let ttl = 300;
    let firstError: ResolveError | undefined;
    for (const r of results) {
      if (r.status === 'fulfilled') {
        addresses.push(...r.value.addresses);
        if (r.value.addresses.length) ttl = Math.min(ttl, r.value.ttl);
      } else firstError ??= r.reason as ResolveError;
    }
    if (addresses.length === 0) {
      this.failures++;
      throw firstError ?? new ResolveError('ENOTFOUND', `${name} has no address`);
    }
    if (this.cache.size >= MAX_CACHE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(name, { addresses, expiresAt: this.clock() + Math.max(1, ttl) * 1000 });
    return addresses;
  }

  /** One record type; tries servers round robin, ATTEMPTS times in all. */
  private query(
    name: string,
    type: number,
    servers: readonly string[],
  ): Promise<{ addresses: string[]; ttl: number }> {
    const ns = this.cfg.stack();
    if (!ns) return Promise.reject(new ResolveError('ETIMEOUT', `cannot resolve ${name}: no tunnel`));
    const sock = ns.bindUdp();
    const id = randomInt(0, 0x10000);
    const q = buildDnsQuery(id, name, type as typeof TYPE_A);
    return new Promise((resolve, reject) => {
      let attempt = 0;
      let timer: NodeJS.Timeout | null = null;
      let server = servers[0]!;
      const done = (f: () => void) => {
        if (timer) clearTimeout(timer);
        sock.removeAllListeners('message');
        sock.close();
        f();
      };
      const send = () => {
        if (attempt >= ATTEMPTS) {
          done(() =>
            reject(
              new ResolveError('ETIMEOUT', `cannot resolve ${name}: no answer from ${servers.join(', ')}`),
            ),
          );
          return;
        }
        server = servers[attempt % servers.length]!;
        attempt++;
        this.queries++;
        sock.send(q, 53, server);
        timer = setTimeout(send, ATTEMPT_MS);
      };
      sock.on('error', () => undefined);
      sock.on('message', (msg, rinfo) => {
        if (rinfo.port !== 53 || !servers.includes(rinfo.address)) return;
        const a = parseDnsAnswer(msg, id, type);
        switch (a.type) {
          case 'ignore':
            return;
          case 'ok':
            done(() => resolve({ addresses: [...a.addresses], ttl: a.ttl }));
            return;
          case 'none':
            done(() => resolve({ addresses: [], ttl: 0 }));
            return;
          case 'fail':
            if (servers.length > 1 && attempt < ATTEMPTS) {
              if (timer) clearTimeout(timer);
              send();
              return;
            }
            done(() =>
              reject(
                new ResolveError(
                  'ESERVFAIL',
                  `cannot resolve ${name}: ${server} answered with an error (rcode ${a.rcode})`,
                ),
              ),
            );
            return;
        }
      });
      send();
    });
  }
}
