// Topology: what hosts a lab has (HostSpec), the default small internet, and the planner that turns
// specs into names and addresses before anything is created (pure: no I/O, so the plan can be
// recorded first and checked by unit tests).
import {
  infraLink,
  internetLink,
  MAX_HOSTS_PER_REGION,
  MAX_REGIONS,
  regionLink,
  regionPrefixes,
  WELL_KNOWN_REGIONS,
  type AddressPool,
  type LinkAddressing,
} from './addresses.js';
import { LabError } from './errors.js';
import type { RoleDefinition } from './roles.js';

/** The DNS zone the lab resolver serves: every host is <name>.lab. */
export const LAB_ZONE = 'lab';
/** Host names: short (they end up in namespace names), DNS-safe. */
export const HOST_NAME_PATTERN = /^[a-z][a-z0-9-]{0,19}$/;
const REGION_PATTERN = /^[a-z][a-z0-9-]{0,15}$/;
const RESERVED_NAMES = new Set(['inet']);
/** Interface names carry a 2-digit host index: at most 99 hosts per lab. */
export const MAX_HOSTS = 99;

export interface HostSpec {
  /** Host name: namespace crl-<runId>-<name>, DNS name <name>.lab. */
  name: string;
  /** A key of the lab's roles (BUILTIN_ROLES plus createLab's `roles`). */
  role: string;
  /** Where the host is (a node's region): its addresses then come from that region's prefix. */
  region?: string;
  /** More DNS names for it, e.g. ["web"] for web.lab. */
  aliases?: readonly string[];
  /** Role-specific settings (e.g. web-geo's allowRegions). */
  options?: Readonly<Record<string, unknown>>;
}

/**
 * The default lab: a resolver, a controller, nodes in eu and us, two clients, a web host that echoes
 * the caller's address (web.lab) and one that serves only eu addresses (geo-eu.lab).
 */
export function defaultTopology(): HostSpec[] {
  return [
    { name: 'resolver', role: 'resolver' },
    { name: 'controller', role: 'controller' },
    { name: 'node-eu', role: 'node', region: 'eu' },
    { name: 'node-us', role: 'node', region: 'us' },
    { name: 'client1', role: 'client' },
    { name: 'client2', role: 'client' },
    { name: 'web', role: 'web-echo', aliases: ['echo'] },
    { name: 'geo-eu', role: 'web-geo', options: { allowRegions: ['eu'] } },
  ];
}

export interface PlannedHost {
  spec: HostSpec;
  name: string;
  role: string;
  region: string | undefined;
  pool: AddressPool;
  /** 1-based position in the lab (names the router's side of the link). */
  index: number;
  ns: string;
  /** The host's end of its link (inside its namespace). */
  iface: string;
  /** The router's end of the same link (inside the backbone namespace). */
  routerIface: string;
  addr: LinkAddressing;
  /** Fully qualified names without the trailing dot: ["web.lab", "echo.lab"]. */
  dnsNames: string[];
}

function bad(msg: string): LabError {
  return new LabError('CORRIDOR_ERR_LAB_BAD_SPEC', msg);
}

export function namespaceName(runId: string, host: string): string {
  return `crl-${runId}-${host}`;
}

export function routerNamespace(runId: string): string {
  return namespaceName(runId, 'inet');
}

/** Hands out names and addresses, in spec order; keeps state so hosts can be added later. */
export class Planner {
  readonly runId: string;
  readonly roles: Readonly<Record<string, RoleDefinition>>;
  readonly hosts: PlannedHost[] = [];
  #regions = new Map<string, number>();
  #perRegion = new Map<number, number>();
  #infra = 0;
  #internet = 0;
  #dnsNames = new Set<string>();

  constructor(runId: string, roles: Readonly<Record<string, RoleDefinition>>) {
    this.runId = runId;
    this.roles = roles;
  }

  /** The region's number (1..15), assigning the next free one to a new region name. */
  regionNumber(region: string): number {
    if (!REGION_PATTERN.test(region))
      throw bad(`region ${JSON.stringify(region)}: use 1-16 of a-z, 0-9, '-'`);
    const known = this.#regions.get(region);
    if (known !== undefined) return known;
    const used = new Set([...this.#regions.values()]);
    let n = WELL_KNOWN_REGIONS[region];
    if (n === undefined || used.has(n)) {
      const reserved = new Set(Object.values(WELL_KNOWN_REGIONS));
      n = 1;
      while ((used.has(n) || reserved.has(n)) && n <= MAX_REGIONS) n++;
      if (n > MAX_REGIONS) throw bad(`more than ${MAX_REGIONS} regions`);
    }
    this.#regions.set(region, n);
    return n;
  }

  /** The prefixes of a region (its geo-IP entry). */
  regionPrefixes(region: string): { v4: string; v6: string } {
    return regionPrefixes(this.regionNumber(region));
  }

  regions(): ReadonlyMap<string, number> {
    return this.#regions;
  }

  /** Validates one spec and reserves its names and addresses. */
  plan(spec: HostSpec): PlannedHost {
    if (typeof spec !== 'object' || spec === null) throw bad('a host spec must be an object');
    const { name, role } = spec;
    if (typeof name !== 'string' || !HOST_NAME_PATTERN.test(name) || RESERVED_NAMES.has(name)) {
      throw bad(
        `host name ${JSON.stringify(name)}: use 1-20 of a-z, 0-9, '-', starting with a letter (not "inet")`,
      );
    }
    if (this.hosts.some((h) => h.name === name)) throw bad(`two hosts are named ${name}`);
    if (this.hosts.length >= MAX_HOSTS) throw bad(`more than ${MAX_HOSTS} hosts`);
    const def = this.roles[role];
    if (!def)
      throw bad(
        `host ${name}: unknown role ${JSON.stringify(role)} (known: ${Object.keys(this.roles).join(', ')})`,
      );
    const problem = def.validate?.(spec, this);
    if (problem) throw bad(`host ${name} (${role}): ${problem}`);
    if (def.maxPerLab !== undefined && this.hosts.filter((h) => h.role === role).length >= def.maxPerLab) {
      throw bad(`host ${name}: a lab has at most ${def.maxPerLab} host(s) of role ${role}`);
    }

    const dnsNames = [name, ...(def.aliases ?? []), ...(spec.aliases ?? [])].map((a) => `${a}.${LAB_ZONE}`);
    for (const d of dnsNames) {
      const labels = d.split('.');
      if (d.length > 200 || labels.some((l) => !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(l))) {
        throw bad(`host ${name}: bad DNS name ${JSON.stringify(d)}`);
      }
      if (this.#dnsNames.has(d)) throw bad(`host ${name}: DNS name ${d} is taken by another host`);
    }
    if (new Set(dnsNames).size !== dnsNames.length) throw bad(`host ${name}: a DNS name is listed twice`);

    let pool: AddressPool = def.pool;
    if (spec.region !== undefined) {
      if (pool === 'internet')
        throw bad(`host ${name}: ${role} hosts live on the internet pool and take no region`);
      pool = 'region';
    } else if (pool === 'region') {
      throw bad(`host ${name}: role ${role} needs a region (e.g. region: 'eu')`);
    }
    let addr: LinkAddressing;
    if (pool === 'region') {
      const r = this.regionNumber(spec.region as string);
      const j = this.#perRegion.get(r) ?? 0;
      if (j >= MAX_HOSTS_PER_REGION)
        throw bad(`more than ${MAX_HOSTS_PER_REGION} hosts in region ${spec.region}`);
      this.#perRegion.set(r, j + 1);
      addr = regionLink(r, j);
    } else if (pool === 'internet') {
      if (this.#internet >= 32) throw bad('more than 32 internet hosts');
      addr = internetLink(this.#internet++);
    } else {
      if (this.#infra >= 255) throw bad('more than 255 infra hosts');
      addr = infraLink(++this.#infra);
    }

    for (const d of dnsNames) this.#dnsNames.add(d);

    const index = this.hosts.length + 1;
    const planned: PlannedHost = {
      spec,
      name,
      role,
      region: spec.region,
      pool,
      index,
      ns: namespaceName(this.runId, name),
      iface: `eth-${this.runId}`,
      routerIface: `v${String(index).padStart(2, '0')}-${this.runId}`,
      addr,
      dnsNames,
    };
    this.hosts.push(planned);
    return planned;
  }
}
