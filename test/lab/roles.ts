// Host types ("roles"). A role says which address pool its hosts take, which DNS names they get and
// what they run once the network is up. Adding a host type is adding one entry here (or passing it in
// createLab's `roles`): see test/lab/README.md, "Adding a host type".
import type { AddressPool } from './addresses.js';
import type { LabHost } from './host.js';
import type { Lab } from './lab.js';
import { DnsService, HttpService, serverArgv } from './services.js';
import { LAB_ZONE, type HostSpec, type Planner } from './topology.js';

export interface RoleDefinition {
  /** Address pool of hosts without a region ('region' makes a region mandatory). */
  readonly pool: AddressPool;
  /** One line for `lab.describe()` and the README. */
  readonly description: string;
  /** DNS names (besides <host>.lab) that every host of this role gets. */
  readonly aliases?: readonly string[];
  /** At most this many hosts of the role in one lab. */
  readonly maxPerLab?: number;
  /**
   * Start order: lower first, same order in parallel. The resolver and the web hosts depend on
   * nothing and start together at 0; roles that need DNS or the web hosts keep the default 10.
   */
  readonly startOrder?: number;
  /** Checks role-specific spec.options; returns a problem or undefined. May reserve regions. */
  validate?(spec: HostSpec, planner: Planner): string | undefined;
  /** Starts what the host runs, after every link and route is up; register handles with host.addService. */
  start?(host: LabHost, lab: Lab): Promise<void>;
}

function stringList(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')
    ? (v as string[])
    : undefined;
}

function port(spec: HostSpec): number {
  const p = spec.options?.port;
  return typeof p === 'number' ? p : 80;
}

function validPort(spec: HostSpec): string | undefined {
  const p = spec.options?.port;
  if (p === undefined) return undefined;
  return typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535
    ? undefined
    : `options.port ${String(p)} is not 1..65535`;
}

async function startHttp(
  host: LabHost,
  mode: 'echo' | 'geo',
  allow?: { label: string; prefixes: string[] },
): Promise<void> {
  const p = port(host.spec);
  const proc = host.spawn(serverArgv('http-server.ts', { name: host.name, mode, port: p, allow }), {
    name: 'http',
  });
  const svc = new HttpService(host, proc, p, mode);
  host.addService(svc);
  await svc.ready();
}

export const BUILTIN_ROLES = {
  controller: {
    pool: 'infra',
    description: 'runs the controller (HTTPS API); tests start it with host.spawn',
  },
  node: {
    pool: 'region',
    description: 'a VPN node in a region: its link address is its public egress address',
  },
  client: {
    pool: 'infra',
    description: 'a user machine running vpnctl',
  },
  'web-echo': {
    pool: 'internet',
    description: 'web host answering HTTP with the source address it sees (v4 and v6)',
    startOrder: 0,
    validate: validPort,
    start: (host) => startHttp(host, 'echo'),
  },
  'web-geo': {
    pool: 'internet',
    description: 'region-locked web host: 200 only for addresses of options.allowRegions, else 403',
    startOrder: 0,
    validate(spec, planner) {
      const regions = stringList(spec.options?.allowRegions);
      if (!regions) return 'options.allowRegions must be a non-empty list of region names';
      for (const r of regions) planner.regionNumber(r); // reserve their prefixes now
      return validPort(spec);
    },
    start(host, lab) {
      const regions = stringList(host.spec.options?.allowRegions) ?? [];
      const prefixes = regions.flatMap((r) => Object.values(lab.regionPrefixes(r)));
      return startHttp(host, 'geo', { label: regions.join(','), prefixes });
    },
  },
  resolver: {
    pool: 'internet',
    description: 'DNS server for the lab zone (<host>.lab A/AAAA), logging which source asked',
    maxPerLab: 1,
    startOrder: 0,
    async start(host, lab) {
      const records = Object.fromEntries(lab.dnsRecords());
      const proc = host.spawn(serverArgv('dns-server.ts', { zone: LAB_ZONE, ttl: 5, port: 53, records }), {
        name: 'dns',
      });
      const svc = new DnsService(host, proc, LAB_ZONE);
      host.addService(svc);
      await svc.ready();
    },
  },
  lb: {
    pool: 'infra',
    description: 'load balancer (HAProxy) in front of controller replicas: tests start it with host.spawn',
  },
  proxy: {
    pool: 'infra',
    description: 'HTTP proxy (tinyproxy) for the TLS/WSS transport: tests start it with host.spawn',
  },
  plain: {
    pool: 'infra',
    description: 'a host with an address and nothing running',
  },
} satisfies Record<string, RoleDefinition>;

export type BuiltinRole = keyof typeof BUILTIN_ROLES;
