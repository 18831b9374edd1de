// Blocking and loss on a host's link, as nftables rules on the backbone's end of that link (the
// router namespace, a `netdev` table hooked at the link device's ingress and egress). Why there and
// not in the host's own namespace: a drop at the sender's own egress hook returns ENOBUFS to the
// socket (ping resends, TCP sees local congestion), and an iptables OUTPUT drop returns EPERM; a
// drop one hop away is silent, as an upstream firewall or a lossy line is. So:
//   - 'out' rules see what the host sends (peer = destination), 'in' rules what it receives
//     (peer = source); direction 'both' installs both.
//   - a capture on the host still shows its outgoing packets that the link then drops, and never
//     the incoming ones that were dropped, as a capture on a real machine would.
//   - port matches either transport port (source or destination), so "UDP 51820" catches the
//     flow both ways whichever end listens.
//   - 'any' means IPv4 and IPv6 (ARP passes); 'icmp' means ICMP and ICMPv6 echo only, so
//     neighbour discovery keeps working.
//   - loss drops each matching packet with the given probability (nft numgen, 0.1 % steps):
//     this kernel has no sch_netem.
// The rule text is built here without I/O (buildLinkRules) and applied by LabHost.block/loss.
import net from 'node:net';
import { LabError } from './errors.js';

export const LAB_NFT_TABLE = 'corridor_lab';

export interface LinkMatch {
  /** Default 'any'. */
  proto?: 'udp' | 'tcp' | 'icmp' | 'any';
  /** A port or an inclusive range [lo, hi]; needs proto udp, tcp or any (then both). */
  port?: number | readonly [number, number];
  /** An address or CIDR at the other end (the IP family follows from it). */
  peer?: string;
  /** Default 'both'. */
  direction?: 'in' | 'out' | 'both';
  /** Limit to one IP family (default both, or the peer's). */
  family?: 4 | 6;
}

export interface BuiltRule {
  /** From the host's side: 'egress' = what it sends, 'ingress' = what it receives. */
  chain: 'ingress' | 'egress';
  /** The rule's match and verdict, as `nft add rule` takes it. */
  body: string;
}

function bad(msg: string): LabError {
  return new LabError('CORRIDOR_ERR_LAB_BAD_SPEC', msg, {
    hint: 'see LinkMatch in test/lab/link-rules.ts: proto udp|tcp|icmp|any, port 1..65535 or [lo, hi], peer an address or CIDR',
  });
}

function checkPort(p: number): void {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw bad(`port ${p} out of 1..65535`);
}

/** Validates a peer and returns [family, text]. */
function parsePeer(peer: string): [4 | 6, string] {
  const [addr = '', len, ...rest] = peer.split('/');
  const family = net.isIPv4(addr) ? 4 : net.isIPv6(addr) ? 6 : 0;
  if (family === 0 || rest.length > 0) throw bad(`peer ${JSON.stringify(peer)} is not an address or CIDR`);
  if (len !== undefined) {
    const n = Number(len);
    if (!/^\d{1,3}$/.test(len) || n > (family === 4 ? 32 : 128))
      throw bad(`peer ${JSON.stringify(peer)} has a bad prefix length`);
  }
  return [family, peer];
}

/**
 * The nft rules for `match` dropping `permille` of the packets (1000 = block). Every rule counts what
 * it drops and carries `comment` so it can be listed and removed.
 */
export function buildLinkRules(match: LinkMatch, permille: number, comment: string): BuiltRule[] {
  if (!Number.isInteger(permille) || permille < 1 || permille > 1000)
    throw bad(`drop rate ${permille}‰ out of 1..1000`);
  if (!/^[a-z0-9-]{1,60}$/.test(comment)) throw bad(`bad rule comment ${comment}`);
  const proto = match.proto ?? 'any';
  if (!['udp', 'tcp', 'icmp', 'any'].includes(proto))
    throw bad(`proto ${String(proto)} is not udp, tcp, icmp or any`);
  const direction = match.direction ?? 'both';
  if (!['in', 'out', 'both'].includes(direction))
    throw bad(`direction ${String(direction)} is not in, out or both`);
  if (match.family !== undefined && match.family !== 4 && match.family !== 6)
    throw bad(`family ${String(match.family)} is not 4 or 6`);
  let ports: string | undefined;
  if (match.port !== undefined) {
    if (proto === 'icmp') throw bad('icmp has no ports');
    if (typeof match.port === 'number') {
      checkPort(match.port);
      ports = String(match.port);
    } else {
      const [lo, hi] = match.port;
      checkPort(lo);
      checkPort(hi);
      if (lo > hi) throw bad(`port range ${lo}-${hi} is empty`);
      ports = `${lo}-${hi}`;
    }
  }
  const peer = match.peer === undefined ? undefined : parsePeer(match.peer);
  if (peer && match.family !== undefined && peer[0] !== match.family)
    throw bad(`peer ${match.peer} is not IPv${match.family}`);
  const families: (4 | 6)[] = peer ? [peer[0]] : match.family ? [match.family] : [4, 6];

  const verdict = `${permille < 1000 ? `numgen random mod 1000 < ${permille} ` : ''}counter drop comment "${comment}"`;
  const chains: ('ingress' | 'egress')[] =
    direction === 'both' ? ['egress', 'ingress'] : direction === 'out' ? ['egress'] : ['ingress'];
  const rules: BuiltRule[] = [];
  for (const chain of chains) {
    for (const fam of families) {
      const parts: string[] = [fam === 4 ? 'meta protocol ip' : 'meta protocol ip6'];
      if (peer)
        parts.push(`${fam === 4 ? 'ip' : 'ip6'} ${chain === 'egress' ? 'daddr' : 'saddr'} ${peer[1]}`);
      if (proto === 'icmp') {
        parts.push(fam === 4 ? 'meta l4proto icmp' : 'icmpv6 type { echo-request, echo-reply }');
        rules.push({ chain, body: `${parts.join(' ')} ${verdict}` });
        continue;
      }
      if (proto === 'udp' || proto === 'tcp') parts.push(`meta l4proto ${proto}`);
      else if (ports) parts.push('meta l4proto { tcp, udp }');
      if (ports) {
        for (const side of ['sport', 'dport'])
          rules.push({ chain, body: `${parts.join(' ')} th ${side} ${ports} ${verdict}` });
      } else {
        rules.push({ chain, body: `${parts.join(' ')} ${verdict}` });
      }
    }
  }
  return rules;
}

/** The router-side chains of one host link: its traffic "out" enters the router, "in" leaves it. */
export function linkChains(routerIface: string): { egress: string; ingress: string } {
  const id = /^(v\d{2})-[a-z0-9]{6}$/.exec(routerIface)?.[1];
  if (!id) throw bad(`bad router interface name ${routerIface}`);
  return { egress: `from_${id}`, ingress: `to_${id}` };
}

/** The lab table with the two base chains of one host link; `nft -f` of this is idempotent. */
export function linkTableScript(routerIface: string): string {
  const c = linkChains(routerIface);
  return [
    `table netdev ${LAB_NFT_TABLE} {`,
    `  chain ${c.egress} { type filter hook ingress device "${routerIface}" priority 0; policy accept; }`,
    `  chain ${c.ingress} { type filter hook egress device "${routerIface}" priority 0; policy accept; }`,
    '}',
    '',
  ].join('\n');
}

/** Handles from `nft --echo --handle` output, in order. */
export function parseEchoHandles(output: string): number[] {
  return [...output.matchAll(/^add rule .* # handle (\d+)$/gm)].map((m) => Number(m[1]));
}

/** Sums the packets counted by the rules with the given handles in `nft -j list table` output. */
export function droppedPackets(json: string, handles: readonly number[]): number {
  let doc: { nftables?: { rule?: { handle?: number; expr?: { counter?: { packets?: number } }[] } }[] };
  try {
    doc = JSON.parse(json) as typeof doc;
  } catch {
    return 0;
  }
  let total = 0;
  for (const item of doc.nftables ?? []) {
    const r = item.rule;
    if (!r || r.handle === undefined || !handles.includes(r.handle)) continue;
    for (const e of r.expr ?? []) total += e.counter?.packets ?? 0;
  }
  return total;
}
