import { describe, expect, it } from 'vitest';
import { EgressPolicy } from '../../src/egress/policy.js';
import { renderRuleset, tableName } from '../../src/kernel/netfilter.js';

const plan = {
  tunName: 'corridor0',
  subnet4: { network: '10.8.0.0', prefix: 24, gateway: '10.8.0.1' },
  subnet6: { network: 'fd00:8::', prefix: 64, gateway: 'fd00:8::1' },
  egressInterface: 'eth0',
  nat: true,
  isolation: true,
};

describe('nftables ruleset', () => {
  it('replaces its own table in one transaction: NAT44/NAT66, MSS clamping, isolation', () => {
    const text = renderRuleset(plan, 'eth0', false);
    const lines = text.split('\n').map((l) => l.trim());
    // add + delete first: valid whether or not the table exists, so applying twice leaves one table.
    expect(lines.slice(0, 3)).toEqual([
      'add table inet corridor_corridor0',
      'delete table inet corridor_corridor0',
      'table inet corridor_corridor0 {',
    ]);
    expect(text).toContain('ip saddr 10.8.0.0/24 oifname "eth0" masquerade');
    expect(text).toContain('ip6 saddr fd00:8::/64 oifname "eth0" masquerade');
    expect(text).toContain('iifname "corridor0" tcp flags syn / syn,rst tcp option maxseg size set rt mtu');
    expect(text).toContain('iifname "corridor0" oifname "corridor0" counter drop');
  });

  it('leaves out NAT without an egress interface and isolation when off; names stay nft-safe', () => {
    const text = renderRuleset({ ...plan, isolation: false, subnet6: null }, null, false);
    expect(text).not.toContain('masquerade');
    expect(text).not.toContain('drop');
    expect(tableName('tun-1.a')).toBe('corridor_tun_1_a');
  });

  it('renders the egress policy in prerouting: allow, gateway echo, client subnets, then deny by reason with counters', () => {
    const policy = new EgressPolicy(
      { deny: ['default', '203.0.113.0/24'], allow: ['10.99.0.0/16'] },
      { subnet4: plan.subnet4, subnet6: plan.subnet6, nodeNetworks: ['198.19.16.2/32', '198.19.16.0/24'] },
    );
    const text = renderRuleset({ ...plan, policy }, 'eth0', false);
    const lines = text.split('\n').map((l) => l.trim());
    const at = (s: string) => {
      const i = lines.findIndex((l) => l.startsWith(s));
      expect(i, s).toBeGreaterThanOrEqual(0);
      return i;
    };
    expect(text).toContain('counter refused_metadata { }');
    expect(text).toContain('iifname "corridor0" jump egress_policy');
    const reject = 'reject with icmpx type admin-prohibited';
    const allow = at('ip daddr { 10.99.0.0/16 } return');
    const echo = at('ip daddr 10.8.0.1 icmp type echo-request return');
    const gw = at(`ip daddr 10.8.0.1 counter name "refused_nodeAddress" ${reject}`);
    const clients = at('ip daddr 10.8.0.0/24 return');
    const node = at(`ip daddr { 198.19.16.2/32 } counter name "refused_nodeAddress"`);
    const meta = at('ip daddr { 169.254.169.254/32, 169.254.170.2/32 } counter name "refused_metadata"');
    const ll = at('ip daddr { 169.254.0.0/16 } counter name "refused_linkLocal"');
    const priv = at('ip daddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 } counter name "refused_private"');
    const op = at('ip daddr { 203.0.113.0/24 } counter name "refused_operator"');
    expect(
      allow < echo &&
        echo < gw &&
        gw < clients &&
        clients < node &&
        node < meta &&
        meta < ll &&
        ll < priv &&
        priv < op,
    ).toBe(true);
    expect(text).toContain('ip6 daddr fd00:8::1 icmpv6 type echo-request return');
    expect(text).toContain('ip6 daddr { fc00::/7 } counter name "refused_private"');
  });
});
