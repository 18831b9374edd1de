import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { EgressPolicy } from '../../src/egress/policy.js';
import { renderRuleset, tableName } from '../../src/kernel/netfilter.js';
import { StateStore } from '../../src/control/state-store.js';

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

describe('crash recovery from kernel-state.json', () => {
  it('restores only sysctls under /proc/sys/net and deletes only corridor tables, whatever the file says', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'corridor-kstate-'));
    try {
      const victim = path.join(dir, 'victim.conf');
      writeFileSync(victim, 'original\n');
      // A stand-in `nft` that only records its arguments: this test must never touch a real ruleset.
      const calls = path.join(dir, 'nft-calls');
      const fakeNft = path.join(dir, 'nft');
      writeFileSync(fakeNft, `#!/bin/sh\necho "$@" >> ${calls}\n`);
      chmodSync(fakeNft, 0o755);
      vi.resetModules();
      vi.stubEnv('CORRIDOR_NFT_COMMAND', fakeNft);
      const { Netfilter } = await import('../../src/kernel/netfilter.js');
      const store = new StateStore(dir);
      // A tampered (or corrupt) state file: an arbitrary path to "restore", someone else's table.
      store.writeJson('kernel-state.json', {
        table: 'filter',
        sysctls: [{ path: victim, previous: 'overwritten' }],
      });
      const nf = new Netfilter(store);
      await nf.recover();
      expect(readFileSync(victim, 'utf8')).toBe('original\n');
      expect(existsSync(calls) ? readFileSync(calls, 'utf8') : '').toBe('');
      expect(store.readJson('kernel-state.json')).toEqual({ table: null, sysctls: [] });
    } finally {
      vi.unstubAllEnvs();
      rmSync(dir, { recursive: true, force: true });
    }
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

describe('input guard and egress policy together', () => {
  it('lets DNS on a pushed server and the allow list through both the policy and the input guard', () => {
    const policy = new EgressPolicy(
      { deny: ['default'], allow: ['10.8.0.1/32'] },
      { subnet4: plan.subnet4, subnet6: plan.subnet6, nodeNetworks: [] },
    );
    const text = renderRuleset({ ...plan, policy, dnsServers: ['10.8.0.1'] }, 'eth0', false);
    const lines = text.split('\n').map((l) => l.trim());
    const dnsReturn = lines.indexOf('ip daddr { 10.8.0.1 } meta l4proto { tcp, udp } th dport 53 return');
    const gwReject = lines.findIndex((l) =>
      l.startsWith('ip daddr 10.8.0.1 counter name "refused_nodeAddress"'),
    );
    expect(dnsReturn).toBeGreaterThanOrEqual(0);
    expect(dnsReturn).toBeLessThan(gwReject);
    const allowAccept = lines.indexOf('iifname "corridor0" ip daddr { 10.8.0.1/32 } accept');
    const drop = lines.indexOf(
      'iifname "corridor0" counter drop comment "clients cannot reach the node itself"',
    );
    expect(allowAccept).toBeGreaterThanOrEqual(0);
    expect(allowAccept).toBeLessThan(drop);
    // Without an allow list the input guard accepts nothing more than ICMP, replies and DNS.
    expect(renderRuleset({ ...plan, dnsServers: ['10.8.0.1'] }, 'eth0', false)).not.toMatch(/\/32 \} accept/);
  });
});
