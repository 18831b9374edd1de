// Link-rule text, without root (the real kernel behaviour is in helpers.test.ts): what each match
// becomes in nft, and which matches are refused.
import { describe, expect, it } from 'vitest';
import { LabError } from './errors.js';
import {
  buildLinkRules,
  droppedPackets,
  linkChains,
  linkTableScript,
  parseEchoHandles,
} from './link-rules.js';

describe('link rules', () => {
  it('blocks a UDP port both ways on both families, matching either port field', () => {
    const rules = buildLinkRules({ proto: 'udp', port: 51820 }, 1000, 'lab-x-1');
    expect(rules).toEqual(
      ['egress', 'ingress'].flatMap((chain) =>
        ['ip', 'ip6'].flatMap((fam) =>
          ['sport', 'dport'].map((side) => ({
            chain,
            body: `meta protocol ${fam} meta l4proto udp th ${side} 51820 counter drop comment "lab-x-1"`,
          })),
        ),
      ),
    );
  });

  it('follows the peer’s family and direction, and turns loss into a random share', () => {
    expect(buildLinkRules({ peer: '2001:db8:100::/48', direction: 'out' }, 250, 'lab-x-2')).toEqual([
      {
        chain: 'egress',
        body: 'meta protocol ip6 ip6 daddr 2001:db8:100::/48 numgen random mod 1000 < 250 counter drop comment "lab-x-2"',
      },
    ]);
    expect(
      buildLinkRules({ proto: 'tcp', peer: '198.51.100.18', direction: 'in', port: [80, 443] }, 1000, 'c'),
    ).toEqual([
      {
        chain: 'ingress',
        body: 'meta protocol ip ip saddr 198.51.100.18 meta l4proto tcp th sport 80-443 counter drop comment "c"',
      },
      {
        chain: 'ingress',
        body: 'meta protocol ip ip saddr 198.51.100.18 meta l4proto tcp th dport 80-443 counter drop comment "c"',
      },
    ]);
  });

  it('blocks only echo for ICMPv6, so neighbour discovery keeps working', () => {
    const rules = buildLinkRules({ proto: 'icmp', direction: 'out' }, 1000, 'c');
    expect(rules.map((r) => r.body)).toEqual([
      'meta protocol ip meta l4proto icmp counter drop comment "c"',
      'meta protocol ip6 icmpv6 type { echo-request, echo-reply } counter drop comment "c"',
    ]);
  });

  it('matches TCP and UDP for a port without a protocol, and everything IP for an empty match', () => {
    expect(buildLinkRules({ port: 53, family: 4, direction: 'out' }, 1000, 'c').map((r) => r.body)).toEqual([
      'meta protocol ip meta l4proto { tcp, udp } th sport 53 counter drop comment "c"',
      'meta protocol ip meta l4proto { tcp, udp } th dport 53 counter drop comment "c"',
    ]);
    expect(buildLinkRules({}, 1000, 'c')).toHaveLength(4);
  });

  it.each<[string, Parameters<typeof buildLinkRules>[0], number]>([
    ['port 0', { proto: 'udp', port: 0 }, 1000],
    ['port 65536', { proto: 'udp', port: 65536 }, 1000],
    ['an empty range', { proto: 'tcp', port: [90, 80] }, 1000],
    ['ports on icmp', { proto: 'icmp', port: 1 }, 1000],
    ['a name as peer', { peer: 'web.lab' }, 1000],
    ['a bad prefix', { peer: '198.51.100.0/33' }, 1000],
    ['a peer of the other family', { peer: '198.51.100.1', family: 6 }, 1000],
    ['an unknown proto', { proto: 'sctp' as 'udp' }, 1000],
    ['an unknown direction', { direction: 'up' as 'in' }, 1000],
    ['a zero rate', {}, 0],
    ['a rate above 100 %', {}, 1001],
  ])('refuses %s', (_what, match, permille) => {
    expect(() => buildLinkRules(match, permille, 'c')).toThrow(LabError);
  });

  it('puts a host’s outgoing traffic on the router’s ingress of its link, incoming on its egress', () => {
    expect(linkChains('v03-abc123')).toEqual({ egress: 'from_v03', ingress: 'to_v03' });
    const script = linkTableScript('v03-abc123');
    expect(script).toContain('chain from_v03 { type filter hook ingress device "v03-abc123"');
    expect(script).toContain('chain to_v03 { type filter hook egress device "v03-abc123"');
  });

  it('refuses rule text injection through the comment or device name', () => {
    expect(() => buildLinkRules({}, 1000, 'x" accept; #')).toThrow(LabError);
    expect(() => linkTableScript('v03-abc123"; flush ruleset')).toThrow(LabError);
    expect(() => linkChains('eth0')).toThrow(LabError);
  });

  it('reads handles from nft --echo and drop counts from nft -j', () => {
    expect(
      parseEchoHandles(
        'add rule netdev corridor_lab egress meta protocol ip counter packets 0 bytes 0 drop comment "c" # handle 4\n' +
          '# new generation 3 by process 1 (nft)\n' +
          'add rule netdev corridor_lab ingress meta protocol ip6 counter packets 0 bytes 0 drop # handle 7\n',
      ),
    ).toEqual([4, 7]);
    const json = JSON.stringify({
      nftables: [
        { metainfo: {} },
        {
          rule: { handle: 4, expr: [{ match: {} }, { counter: { packets: 3, bytes: 300 } }, { drop: null }] },
        },
        { rule: { handle: 5, expr: [{ counter: { packets: 100, bytes: 1 } }] } },
        { rule: { handle: 7, expr: [{ counter: { packets: 2, bytes: 200 } }] } },
      ],
    });
    expect(droppedPackets(json, [4, 7])).toBe(5);
    expect(droppedPackets('not json', [4])).toBe(0);
  });
});
