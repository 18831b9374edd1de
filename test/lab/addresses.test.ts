// The address plan and the planner, without root: every address stays in the allowed ranges and out
// of the machine's own link (192.0.2.0/24, fd00::/64); bad topologies are refused before anything
// is created.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  formatIPv6,
  infraLink,
  internetLink,
  LAB_RANGES,
  parseIPv4,
  parseIPv6,
  regionLink,
  regionPrefixes,
  urlFor,
} from './addresses.js';
import { LabError } from './errors.js';
import { BUILTIN_ROLES } from './roles.js';
import { defaultTopology, Planner, type HostSpec } from './topology.js';

function blockList(cidrs: readonly string[]): net.BlockList {
  const b = new net.BlockList();
  for (const c of cidrs) {
    const [a = '', l = ''] = c.split('/');
    b.addSubnet(a, Number(l), net.isIPv6(a) ? 'ipv6' : 'ipv4');
  }
  return b;
}

const allowed = blockList([LAB_RANGES.linksV4, ...LAB_RANGES.internetV4, LAB_RANGES.v6]);
const forbidden = blockList(['192.0.2.0/24', 'fd00::/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']);

function allLinks() {
  const links = [];
  for (let i = 1; i <= 255; i++) links.push(infraLink(i));
  for (let r = 1; r <= 15; r++) for (let j = 0; j < 16; j++) links.push(regionLink(r, j));
  for (let k = 0; k < 32; k++) links.push(internetLink(k));
  return links;
}

describe('address plan', () => {
  it('keeps every host, gateway and subnet inside the lab ranges and out of the machine’s own', () => {
    const links = allLinks();
    expect(links.length).toBe(255 + 240 + 32);
    for (const l of links) {
      for (const a of [l.v4, l.gateway4, l.v6, l.gateway6]) {
        const fam = net.isIPv6(a) ? 'ipv6' : 'ipv4';
        expect(allowed.check(a, fam), a).toBe(true);
        expect(forbidden.check(a, fam), a).toBe(false);
      }
    }
  });

  it('gives every link its own subnets (no two hosts share an address)', () => {
    const links = allLinks();
    const addrs = links.flatMap((l) => [l.v4, l.gateway4, l.v6, l.gateway6]);
    expect(new Set(addrs).size).toBe(addrs.length);
    expect(new Set(links.map((l) => l.subnet4)).size).toBe(links.length);
    expect(new Set(links.map((l) => l.subnet6)).size).toBe(links.length);
  });

  it('puts each region’s hosts inside that region’s prefixes and no other region’s', () => {
    for (let r = 1; r <= 15; r++) {
      const own = blockList(Object.values(regionPrefixes(r)));
      for (let j = 0; j < 16; j++) {
        const l = regionLink(r, j);
        expect(own.check(l.v4, 'ipv4')).toBe(true);
        expect(own.check(l.v6, 'ipv6')).toBe(true);
      }
      const other = regionLink(r === 15 ? 1 : r + 1, 0);
      expect(own.check(other.v4, 'ipv4')).toBe(false);
      expect(own.check(other.v6, 'ipv6')).toBe(false);
      // Infra hosts (clients, controller) are in no region.
      expect(own.check(infraLink(r).v4, 'ipv4')).toBe(false);
    }
    expect(regionPrefixes(1)).toEqual({ v4: '198.19.16.0/20', v6: '2001:db8:19:10::/60' });
  });

  it('writes IPv6 in RFC 5952 form and parses it back', () => {
    expect(formatIPv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])).toBe('2001:db8::1');
    expect(formatIPv6([0x2001, 0xdb8, 0, 1, 0, 0, 0, 1])).toBe('2001:db8:0:1::1');
    expect(formatIPv6([0, 0, 0, 0, 0, 0, 0, 0])).toBe('::');
    expect(formatIPv6([1, 0, 0, 2, 0, 0, 0, 3])).toBe('1:0:0:2::3'); // the longest run wins
    expect(formatIPv6([1, 0, 0, 2, 0, 0, 3, 4])).toBe('1::2:0:0:3:4'); // a tie: the first
    expect(formatIPv6([1, 2, 3, 4, 5, 6, 7, 8])).toBe('1:2:3:4:5:6:7:8');
    expect(internetLink(0).v6).toBe('2001:db8:100::2');
    for (const text of [
      '2001:db8::1',
      '::',
      '::1',
      '1::',
      'fe80::1:2',
      '1:2:3:4:5:6:7:8',
      '2001:db8:19:10::2',
    ]) {
      expect(formatIPv6(parseIPv6(text) ?? [])).toBe(text);
    }
    expect(parseIPv6('::ffff:198.51.100.2')).toEqual([0, 0, 0, 0, 0, 0xffff, 0xc633, 0x6402]);
    expect(parseIPv6('1:2:3:4:5:6:198.51.100.2')).toEqual([1, 2, 3, 4, 5, 6, 0xc633, 0x6402]);
    for (const bad of [
      '',
      '1',
      ':::',
      '1::2::3',
      '12345::',
      '1:2:3:4:5:6:7:8:9',
      'g::1',
      '1.2.3.4',
      '::1.2.3',
    ]) {
      expect(parseIPv6(bad), bad).toBeUndefined();
    }
    expect(parseIPv4('198.51.100.2')).toEqual([198, 51, 100, 2]);
    for (const bad of ['256.1.1.1', '1.2.3', '01.2.3.4', 'a.b.c.d', '1.2.3.4.5'])
      expect(parseIPv4(bad), bad).toBeUndefined();
  });

  it('builds literal URLs for both families', () => {
    expect(urlFor('198.51.100.2')).toBe('http://198.51.100.2/');
    expect(urlFor('2001:db8:100::2', '/json', 8080)).toBe('http://[2001:db8:100::2]:8080/json');
  });
});

describe('planner', () => {
  const plan = (hosts: HostSpec[]) => {
    const p = new Planner('abc123', BUILTIN_ROLES);
    return hosts.map((h) => p.plan(h));
  };

  it('plans the default topology with run-scoped names and the expected pools', () => {
    const hosts = plan(defaultTopology());
    expect(hosts.map((h) => h.ns)).toEqual([
      'crl-abc123-resolver',
      'crl-abc123-controller',
      'crl-abc123-node-eu',
      'crl-abc123-node-us',
      'crl-abc123-client1',
      'crl-abc123-client2',
      'crl-abc123-web',
      'crl-abc123-geo-eu',
    ]);
    for (const h of hosts) {
      expect(h.iface).toBe('eth-abc123');
      expect(h.routerIface).toMatch(/^v\d\d-abc123$/);
      expect(h.routerIface.length).toBeLessThanOrEqual(15); // IFNAMSIZ - 1
    }
    const byName = Object.fromEntries(hosts.map((h) => [h.name, h]));
    expect(byName['node-eu']?.addr.v4).toBe('198.19.16.2');
    expect(byName['node-us']?.addr.v4).toBe('198.19.32.2');
    expect(byName['client1']?.addr.v4).toBe('198.18.2.2');
    expect(byName['resolver']?.addr.v4).toBe('198.51.100.2');
    expect(byName['web']?.dnsNames).toEqual(['web.lab', 'echo.lab']);
  });

  it('gives a region with no well-known number the next free one, keeping eu/us/asia fixed', () => {
    const p = new Planner('abc123', BUILTIN_ROLES);
    expect(p.regionNumber('ap')).toBe(4);
    expect(p.regionNumber('us')).toBe(2);
    expect(p.regionNumber('sa')).toBe(5);
    expect(p.regionNumber('ap')).toBe(4);
  });

  it.each<[string, HostSpec[], RegExp]>([
    ['a bad host name', [{ name: 'Bad_Name', role: 'client' }], /host name "Bad_Name"/],
    ['the reserved name', [{ name: 'inet', role: 'client' }], /not "inet"/],
    ['a name too long for the namespace', [{ name: 'a'.repeat(21), role: 'client' }], /host name/],
    [
      'two hosts with one name',
      [
        { name: 'a', role: 'client' },
        { name: 'a', role: 'client' },
      ],
      /two hosts are named a/,
    ],
    ['an unknown role', [{ name: 'a', role: 'nope' }], /unknown role "nope"/],
    ['a node without a region', [{ name: 'n', role: 'node' }], /needs a region/],
    ['a web host with a region', [{ name: 'w', role: 'web-echo', region: 'eu' }], /take no region/],
    ['a geo host without regions', [{ name: 'g', role: 'web-geo' }], /allowRegions/],
    [
      'two resolvers',
      [
        { name: 'r1', role: 'resolver' },
        { name: 'r2', role: 'resolver' },
      ],
      /at most 1/,
    ],
    [
      'a taken DNS name',
      [
        { name: 'web', role: 'client' },
        { name: 'x', role: 'client', aliases: ['web'] },
      ],
      /taken/,
    ],
    ['a bad alias', [{ name: 'x', role: 'client', aliases: ['no_underscore'] }], /bad DNS name/],
    ['a bad region', [{ name: 'x', role: 'client', region: 'EU' }], /region "EU"/],
    ['a bad port', [{ name: 'w', role: 'web-echo', options: { port: 70000 } }], /options.port/],
  ])('refuses %s with CORRIDOR_ERR_LAB_BAD_SPEC', (_what, hosts, message) => {
    let caught: unknown;
    try {
      plan(hosts);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(LabError);
    expect((caught as LabError).code).toBe('CORRIDOR_ERR_LAB_BAD_SPEC');
    expect((caught as LabError).message).toMatch(message);
    expect((caught as LabError).message).toContain('hint:');
  });

  it('refuses a 17th host in one region and a 100th host in a lab', () => {
    const p = new Planner('abc123', BUILTIN_ROLES);
    for (let i = 0; i < 16; i++) p.plan({ name: `n${i}`, role: 'node', region: 'eu' });
    expect(() => p.plan({ name: 'n16', role: 'node', region: 'eu' })).toThrow(
      /more than 16 hosts in region eu/,
    );
    const q = new Planner('abc123', BUILTIN_ROLES);
    for (let i = 0; i < 99; i++) q.plan({ name: `h${i}`, role: 'plain' });
    expect(() => q.plan({ name: 'h99', role: 'plain' })).toThrow(/more than 99 hosts/);
  });
});
