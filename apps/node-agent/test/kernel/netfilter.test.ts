import { describe, expect, it } from 'vitest';
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
    expect(text).not.toContain('client isolation');
    // The inbound guard stays: it is not about isolation.
    expect(text).toContain('oifname "corridor0" iifname != "corridor0" counter drop');
    expect(tableName('tun-1.a')).toBe('corridor_tun_1_a');
  });

  it('guards the node itself: from the TUN only ICMP, replies and DNS on the pushed servers', () => {
    const text = renderRuleset({ ...plan, dnsServers: ['10.8.0.1', 'fd00:8::1', '9.9.9.9'] }, 'eth0', false);
    expect(text).toContain('type filter hook input priority filter; policy accept;');
    expect(text).toContain('iifname "corridor0" meta l4proto { icmp, ipv6-icmp } accept');
    expect(text).toContain(
      'iifname "corridor0" ip daddr { 10.8.0.1, 9.9.9.9 } meta l4proto { tcp, udp } th dport 53 accept',
    );
    expect(text).toContain(
      'iifname "corridor0" ip6 daddr { fd00:8::1 } meta l4proto { tcp, udp } th dport 53 accept',
    );
    expect(text.indexOf('counter drop comment "clients cannot reach the node itself"')).toBeGreaterThan(
      text.indexOf('th dport 53 accept'),
    );
    expect(renderRuleset(plan, 'eth0', false)).not.toContain('dport 53');
  });
});
