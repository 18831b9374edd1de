// Client subnets the node must refuse: loopback, multicast, link-local, unspecified and reserved
// ranges (the kernel would drop or mis-route such traffic, or clients would reach the node's loopback),
// and IPv6 written with an embedded IPv4 tail (read wrongly before).
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

const BASE = { CORRIDOR_CONTROLLER_URL: 'https://controller.test:8443', CORRIDOR_NODE_ID: 'fra-1' };

describe('client subnets', () => {
  it.each([
    '127.0.0.0/24',
    '0.0.0.0/24',
    '169.254.0.0/16',
    '224.0.0.0/24',
    '240.0.0.0/24',
    '255.255.255.0/24',
  ])('refuses IPv4 client subnet %s, naming it', (subnet) => {
    const r = loadConfig({ ...BASE, CORRIDOR_CLIENT_SUBNET: subnet });
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.problems.join('\n')).toMatch(
        new RegExp(`CORRIDOR_CLIENT_SUBNET: .*${subnet.replace(/\./g, '\\.')}`),
      );
  });

  it.each(['fe80::/64', 'ff02::/64', '::/64', '::ffff:0:0/96', '2001:db8::10.8.0.0/120'])(
    'refuses IPv6 client subnet %s, naming it',
    (subnet) => {
      const r = loadConfig({ ...BASE, CORRIDOR_CLIENT_SUBNET6: subnet });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problems.join('\n')).toContain(`CORRIDOR_CLIENT_SUBNET6: `);
    },
  );

  it('accepts private and global unicast subnets', () => {
    const r = loadConfig({
      ...BASE,
      CORRIDOR_CLIENT_SUBNET: '100.64.0.0/16',
      CORRIDOR_CLIENT_SUBNET6: '2001:db8:5::/64',
    });
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(r.config.clientSubnet.gateway).toBe('100.64.0.1');
    expect(r.config.clientSubnet6?.gateway).toBe('2001:db8:5::1');
  });
});
