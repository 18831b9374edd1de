/**
 * The node's kernel side besides the TUN: IP forwarding and an nftables table of its own
 * (`inet corridor_<tun>`) holding masquerade (NAT44 + NAT66) towards the egress interface, TCP MSS
 * clamping for tunnel traffic, client isolation, a stateful guard that lets into the TUN from other
 * interfaces only replies to the clients' own flows, and an input guard: from the TUN the node itself
 * (any of its addresses: the gateway, its public address, co-located services) answers only ICMP and
 * DNS on the pushed DNS servers' addresses. Nothing outside that table is touched.
 *
 * Sysctls: net.ipv4.ip_forward, net.ipv6.conf.all.forwarding (with IPv6 in the tunnel) and, when that
 * is 1, the egress interface's accept_ra 1 -> 2 (forwarding would otherwise stop router advertisements).
 * Idempotent: `apply()` replaces the whole table in one `nft -f` transaction (delete + add), so
 * running it twice leaves one copy. What was changed is written to kernel-state.json BEFORE the
 * change; `teardown()` undoes exactly that (deletes our table, restores sysctls we changed) on
 * SIGTERM/SIGINT, and `recover()` does it at the next start after a crash (kill -9).
 * Commands run with execFile and an argument vector (never a shell); `nft` comes from PATH or
 * CORRIDOR_NFT_COMMAND.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Ipv4Subnet, Ipv6Subnet } from '../config.js';
import type { StateStore } from '../control/state-store.js';

const NFT = process.env.CORRIDOR_NFT_COMMAND ?? 'nft';
const IP = process.env.CORRIDOR_IP_COMMAND ?? 'ip';

export interface NetfilterPlan {
  readonly tunName: string;
  readonly subnet4: Ipv4Subnet;
  readonly subnet6: Ipv6Subnet | null;
  readonly egressInterface: string | null;
  readonly nat: boolean;
  readonly isolation: boolean;
  /** DNS servers pushed to clients: the only services of the node itself clients may reach (port 53). */
  readonly dnsServers?: readonly string[];
}

interface SysctlChange {
  readonly path: string;
  readonly previous: string;
}

export interface KernelState {
  table: string | null;
  sysctls: SysctlChange[];
}

export class KernelError extends Error {
  override readonly name = 'KernelError';
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(`${message} (hint: ${hint})`);
  }
}

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        reject(
          new KernelError(
            `${cmd} ${args.join(' ')} failed: ${String(stderr || err.message).trim()}`,
            code === 'ENOENT'
              ? `install ${cmd === NFT ? 'nftables' : 'iproute2'} (apt-get install ${cmd === NFT ? 'nftables' : 'iproute2'})`
              : 'the node agent needs root (CAP_NET_ADMIN) for its kernel setup',
          ),
        );
      } else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** A sysctl's value, or null when it does not exist (no such interface). */
function readOptional(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** nft table name for a TUN name: letters, digits and underscores only. */
export function tableName(tunName: string): string {
  return `corridor_${tunName.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

const quote = (s: string) => `"${s.replace(/[^A-Za-z0-9_.-]/g, '')}"`;

/** The ruleset text for one `nft -f` transaction (exported for tests). */
export function renderRuleset(plan: NetfilterPlan, egress: string | null, exists: boolean): string {
  const t = tableName(plan.tunName);
  const tun = quote(plan.tunName);
  const lines: string[] = [];
  // `add` then `delete` makes the delete valid whether or not the table exists: a replace in one go.
  lines.push(`add table inet ${t}`, `delete table inet ${t}`);
  void exists;
  lines.push(`table inet ${t} {`);
  lines.push('  chain forward {', '    type filter hook forward priority filter; policy accept;');
  // MSS clamping for TCP through the tunnel, both directions.
  lines.push(`    iifname ${tun} tcp flags syn / syn,rst tcp option maxseg size set rt mtu`);
  lines.push(`    oifname ${tun} tcp flags syn / syn,rst tcp option maxseg size set rt mtu`);
  if (plan.isolation) lines.push(`    iifname ${tun} oifname ${tun} counter drop comment "client isolation"`);
  // Into the tunnel from anywhere else only what belongs to the clients' own flows (replies, ICMP
  // errors): a neighbour on the egress link that routes the client subnets via the node must not
  // reach (scan, connect to) the clients, NAT or not — as behind any NAT router.
  lines.push(`    oifname ${tun} iifname != ${tun} ct state established,related accept`);
  lines.push(`    oifname ${tun} iifname != ${tun} counter drop comment "no unsolicited inbound to clients"`);
  lines.push('  }');
  // Clients reach the internet through the node, not the node: whatever listens on its addresses
  // (ssh, databases, a co-located controller, the metrics port) is not theirs to reach.
  lines.push('  chain input {', '    type filter hook input priority filter; policy accept;');
  lines.push(`    iifname ${tun} ct state established,related accept`);
  lines.push(`    iifname ${tun} meta l4proto { icmp, ipv6-icmp } accept`);
  const dns4 = (plan.dnsServers ?? []).filter((a) => isIP(a) === 4);
  const dns6 = (plan.dnsServers ?? []).filter((a) => isIP(a) === 6);
  if (dns4.length > 0)
    lines.push(
      `    iifname ${tun} ip daddr { ${dns4.join(', ')} } meta l4proto { tcp, udp } th dport 53 accept`,
    );
  if (dns6.length > 0)
    lines.push(
      `    iifname ${tun} ip6 daddr { ${dns6.join(', ')} } meta l4proto { tcp, udp } th dport 53 accept`,
    );
  lines.push(`    iifname ${tun} counter drop comment "clients cannot reach the node itself"`);
  lines.push('  }');
  if (plan.nat && egress !== null) {
    lines.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;');
    lines.push(
      `    ip saddr ${plan.subnet4.network}/${plan.subnet4.prefix} oifname ${quote(egress)} masquerade`,
    );
    if (plan.subnet6)
      lines.push(
        `    ip6 saddr ${plan.subnet6.network}/${plan.subnet6.prefix} oifname ${quote(egress)} masquerade`,
      );
    lines.push('  }');
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** The interface of the default route in this namespace, or null. */
export async function defaultRouteInterface(): Promise<string | null> {
  try {
    const out = await run(IP, ['-j', 'route', 'show', 'default']);
    const routes = JSON.parse(out) as { dev?: string }[];
    return routes[0]?.dev ?? null;
  } catch {
    return null;
  }
}

export class Netfilter {
  private state: KernelState = { table: null, sysctls: [] };

  constructor(private readonly store: StateStore) {}

  private save(): void {
    this.store.writeJson('kernel-state.json', this.state);
  }

  /** Undoes what a previous run recorded but did not tear down (after kill -9). Returns what it removed. */
  async recover(): Promise<KernelState | null> {
    const left = this.store.readJson<KernelState>('kernel-state.json');
    if (left === null || (left.table === null && left.sysctls.length === 0)) return null;
    this.state = { table: left.table, sysctls: Array.isArray(left.sysctls) ? left.sysctls : [] };
    await this.teardown();
    return left;
  }

  /**
   * Forwarding on, our table in place. Records every change before making it. `warnings` name what
   * could not be set and is not required (the caller logs them).
   */
  async apply(plan: NetfilterPlan): Promise<{ egress: string | null; warnings: string[] }> {
    const warnings: string[] = [];
    const egress = plan.egressInterface ?? (plan.nat ? await defaultRouteInterface() : null);
    this.setSysctl('/proc/sys/net/ipv4/ip_forward', '1');
    if (plan.subnet6) {
      this.setSysctl('/proc/sys/net/ipv6/conf/all/forwarding', '1');
      // accept_ra 1 means "only while not forwarding": a node whose IPv6 uplink comes from router
      // advertisements (SLAAC, most clouds) would stop refreshing its default route and lose it when
      // it expires. 2 keeps taking them while forwarding (restored at teardown like the rest).
      // Best effort: deployments that preset sysctls run with /proc/sys read-only.
      const acceptRa = `/proc/sys/net/ipv6/conf/${egress ?? ''}/accept_ra`;
      if (egress !== null && !egress.startsWith('.') && readOptional(acceptRa) === '1') {
        try {
          this.setSysctl(acceptRa, '2');
        } catch (err) {
          this.state.sysctls = this.state.sysctls.filter((x) => x.path !== acceptRa);
          this.save();
          warnings.push(
            `cannot set net.ipv6.conf.${egress}.accept_ra=2 (${(err as NodeJS.ErrnoException).code ?? String(err)}): ` +
              'with forwarding on, router advertisements on the egress link are ignored; set it where the ' +
              'other sysctls are preset if the IPv6 uplink comes from router advertisements (SLAAC)',
          );
        }
      }
    }
    this.state.table = tableName(plan.tunName);
    this.save();
    await run(NFT, ['-f', '-'], renderRuleset(plan, egress, false));
    return { egress, warnings };
  }

  private setSysctl(path: string, value: string): void {
    const previous = readFileSync(path, 'utf8').trim();
    if (previous === value) return;
    if (!this.state.sysctls.some((s) => s.path === path)) this.state.sysctls.push({ path, previous });
    this.save();
    writeFileSync(path, value);
  }

  /** Removes exactly what apply() made. Safe to call twice. */
  async teardown(): Promise<void> {
    if (this.state.table !== null) {
      await run(NFT, ['delete', 'table', 'inet', this.state.table]).catch((err: Error) => {
        if (!/No such file|does not exist/i.test(err.message)) throw err;
      });
      this.state.table = null;
      this.save();
    }
    for (const s of [...this.state.sysctls].reverse()) {
      try {
        writeFileSync(s.path, s.previous);
      } catch {
        // the namespace may be gone; nothing left to restore
      }
    }
    this.state.sysctls = [];
    this.save();
  }
}

/** Lists the tables nft knows in this namespace (tests: no duplicates after restarts). */
export async function listTables(): Promise<string[]> {
  const out = await run(NFT, ['list', 'tables']);
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}
