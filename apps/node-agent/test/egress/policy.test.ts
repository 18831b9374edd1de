import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { EgressPolicy, parseCidr, policyListProblems } from '../../src/egress/policy.js';

const ctx = {
  subnet4: { network: '10.8.0.0', prefix: 24, gateway: '10.8.0.1' },
  subnet6: { network: 'fd00:8::', prefix: 64, gateway: 'fd00:8::1' },
  nodeNetworks: ['198.19.16.2/32', '198.19.16.0/24', '2001:db8:19:10::2/128', '2001:db8:19:10::/64'],
};

describe('egress policy', () => {
  const p = new EgressPolicy({ deny: ['default'], allow: [] }, ctx);

  it('refuses metadata, loopback, link-local, private, the node and its networks by default, each by reason', () => {
    expect(p.checkText('169.254.169.254')).toBe('metadata');
    expect(p.checkText('169.254.10.1')).toBe('linkLocal');
    expect(p.checkText('fe80::1')).toBe('linkLocal');
    expect(p.checkText('127.0.0.1')).toBe('loopback');
    expect(p.checkText('127.255.0.9')).toBe('loopback');
    expect(p.checkText('::1')).toBe('loopback');
    expect(p.checkText('10.1.2.3')).toBe('private');
    expect(p.checkText('172.16.0.1')).toBe('private');
    expect(p.checkText('172.31.255.255')).toBe('private');
    expect(p.checkText('192.168.1.1')).toBe('private');
    expect(p.checkText('fd12::1')).toBe('private');
    expect(p.checkText('100.64.0.1')).toBe('sharedAddress');
    expect(p.checkText('224.0.0.251')).toBe('multicast');
    expect(p.checkText('ff02::1')).toBe('multicast');
    expect(p.checkText('0.0.0.0')).toBe('reserved');
    expect(p.checkText('255.255.255.255')).toBe('reserved');
    expect(p.checkText('::ffff:127.0.0.1')).toBe('reserved'); // IPv4-mapped: would reach loopback
    expect(p.checkText('198.19.16.2')).toBe('nodeAddress');
    expect(p.checkText('198.19.16.1')).toBe('nodeNetwork');
    expect(p.checkText('2001:db8:19:10::2')).toBe('nodeAddress');
    expect(p.checkText('2001:db8:19:10::1')).toBe('nodeNetwork');
  });

  it('allows the internet, including the documentation and benchmarking ranges the lab uses', () => {
    for (const a of ['198.51.100.18', '203.0.113.5', '198.18.1.2', '198.19.32.2', '8.8.8.8', '172.32.0.1'])
      expect(p.checkText(a), a).toBe('allowed');
    for (const a of ['2001:db8:100:1::2', '2606:4700::1111']) expect(p.checkText(a), a).toBe('allowed');
  });

  it('the gateway answers echo only; other clients are left to isolation', () => {
    expect(p.checkText('10.8.0.1', true)).toBe('allowed');
    expect(p.checkText('10.8.0.1', false)).toBe('nodeAddress');
    expect(p.checkText('fd00:8::1', true)).toBe('allowed');
    expect(p.checkText('fd00:8::1', false)).toBe('nodeAddress');
    expect(p.checkText('10.8.0.7')).toBe('allowed');
    expect(p.checkText('fd00:8::7')).toBe('allowed');
    expect(p.checkText('10.8.1.7')).toBe('private');
  });

  it('allow wins over deny; operator CIDRs and groups; none', () => {
    const q = new EgressPolicy(
      { deny: ['metadata', '203.0.113.0/25'], allow: ['169.254.169.254/32', '203.0.113.64/26'] },
      ctx,
    );
    expect(q.checkText('169.254.169.254')).toBe('allowed');
    expect(q.checkText('203.0.113.5')).toBe('operator');
    expect(q.checkText('203.0.113.70')).toBe('allowed');
    expect(q.checkText('10.1.1.1')).toBe('allowed'); // private not listed
    const none = new EgressPolicy({ deny: ['none'], allow: [] }, ctx);
    expect(none.checkText('127.0.0.1')).toBe('allowed');
    expect(none.checkText('10.8.0.1')).toBe('nodeAddress'); // the node itself is never open by default
  });

  it('counts refusals by reason', () => {
    const q = new EgressPolicy({ deny: ['default'], allow: [] }, ctx);
    q.count(q.check4(parseCidr('127.0.0.1')!.words[0]!, false));
    q.count(q.check4(parseCidr('127.0.0.2')!.words[0]!, false));
    q.count(q.check4(parseCidr('8.8.8.8')!.words[0]!, false));
    expect(q.refused.loopback).toBe(2);
    expect(Object.values(q.refused).reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('parses CIDRs strictly and names bad list entries', () => {
    expect(parseCidr('10.0.0.0/8')?.text).toBe('10.0.0.0/8');
    expect(parseCidr('10.1.2.3/8')?.text).toBe('10.0.0.0/8');
    expect(parseCidr('fd00::5/8')?.text).toBe('fd00::/8');
    expect(parseCidr('1.2.3.4')?.prefix).toBe(32);
    for (const bad of ['10.0.0.0/33', '::/129', 'x', '10.0.0/8', '1.2.3.4/', '1.2.3.4/-1', ''])
      expect(parseCidr(bad), bad).toBeNull();
    expect(policyListProblems(['default', 'bogus'], ['1.2.3.4/40'])).toHaveLength(2);
    expect(policyListProblems(['none', 'private'], [])).toHaveLength(1);
  });
});

describe('egress options', () => {
  it('egress, egress-deny and egress-allow from flags, env and file; kernel-only options refused in userspace mode', () => {
    const r = loadConfig({ CORRIDOR_EGRESS_ALLOW: '10.1.0.0/16' }, [
      '--egress',
      'userspace',
      '--egress-deny',
      'default,192.0.2.0/24',
    ]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.egress).toBe('userspace');
    expect(r.config.egressDeny).toEqual(['default', '192.0.2.0/24']);
    expect(r.config.egressAllow).toEqual(['10.1.0.0/16']);
    const d = loadConfig({}, []);
    expect(d.ok && d.config.egress).toBe('kernel');
    expect(d.ok && d.config.egressDeny).toEqual(['default']);

    const bad = loadConfig({ CORRIDOR_EGRESS: 'tun' }, ['--egress-allow', 'nope', '--egress-deny', 'privat']);
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.problems.join('\n')).toMatch(/CORRIDOR_EGRESS: expected kernel \| userspace/);
    expect(bad.problems.join('\n')).toMatch(/--egress-allow: egress allow entry 'nope'/);
    expect(bad.problems.join('\n')).toMatch(/--egress-deny: egress deny entry 'privat'/);

    const mixed = loadConfig({}, ['--egress', 'userspace', '--nat', 'on', '--tun-name', 'x0']);
    expect(mixed.ok).toBe(false);
    if (!mixed.ok) expect(mixed.problems.filter((p) => p.includes('egress=kernel only'))).toHaveLength(2);

    const file = loadConfig({}, ['--config', 'x.json'], () =>
      JSON.stringify({ egress: 'userspace', egressDeny: ['metadata'], egressAllow: ['10.0.0.0/8'] }),
    );
    expect(file.ok && file.config.egressDeny).toEqual(['metadata']);
    expect(file.ok && file.config.egressAllow).toEqual(['10.0.0.0/8']);
  });
});
