/**
 * The node's kernel side besides the TUN: IP forwarding and an nftables table of its own
 * (`inet corridor_<tun>`) holding masquerade (NAT44 + NAT66) towards the egress interface, TCP MSS
 * clamping for tunnel traffic, client isolation, a stateful guard that lets into the TUN from other
 * interfaces only replies to the clients' own flows, an input guard (from the TUN the node itself —
 * any of its addresses: the gateway, its public address, co-located services — answers only ICMP, DNS
 * on the pushed DNS servers' addresses and what the egress allow list names) and the egress policy (a
 * prerouting chain for packets from the TUN, one named counter per refusal reason, read back by
 * `policyCounters()`). Nothing outside that table is touched.
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
import { EGRESS_REFUSAL_REASONS, type EgressPolicy, type EgressRefusalReason } from '../egress/policy.js';

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
  /** The egress policy, enforced in a prerouting chain for packets from the TUN (null: none). */
  readonly policy?: EgressPolicy | null;
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

/** Our table names (tableName) and the sysctls apply() may change: all recover() will touch. */
const OWN_TABLE = /^corridor_[A-Za-z0-9_]{1,15}$/;
const NET_SYSCTL = /^\/proc\/sys\/net\/(ipv4|ipv6)\/[A-Za-z0-9_./-]+$/;

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
  // What the operator's egress allow list names (e.g. a service on the node's gateway) is reachable too.
  const allow4 = (plan.policy?.allow ?? []).filter((c) => c.family === 4).map((c) => c.text);
  const allow6 = (plan.policy?.allow ?? []).filter((c) => c.family === 6).map((c) => c.text);
  if (allow4.length > 0) lines.push(`    iifname ${tun} ip daddr { ${allow4.join(', ')} } accept`);
  if (allow6.length > 0) lines.push(`    iifname ${tun} ip6 daddr { ${allow6.join(', ')} } accept`);
  lines.push(`    iifname ${tun} counter drop comment "clients cannot reach the node itself"`);
  lines.push('  }');
  if (plan.policy) lines.push(...renderPolicyRules(plan, tun));
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

/** Whether a network interface of that name exists in this namespace (netlink, via `ip`). */
export async function interfaceExists(name: string): Promise<boolean> {
  try {
    await run(IP, ['link', 'show', 'dev', name]);
    return true;
  } catch (err) {
    // Without `ip` nothing can be checked: do not call a possibly fine interface missing.
    return err instanceof KernelError && err.hint.startsWith('install ');
  }
}

/** Named counter of a refusal reason in our table. */
export const policyCounterName = (reason: EgressRefusalReason) => `refused_${reason}`;

/**
 * The egress policy as nftables rules (the order of policy.ts): allow → gateway (echo only) → client
 * subnets (isolation decides) → deny entries by reason, each refusal counted in its named counter and
 * answered with ICMP administratively prohibited. In prerouting, so destinations on the node itself
 * (and martians such as 127.0.0.1 the kernel would drop uncounted later) are seen too.
 */
export function renderPolicyRules(plan: NetfilterPlan, tun: string): string[] {
  const p = plan.policy!;
  const reject = 'reject with icmpx type admin-prohibited';
  const lines: string[] = [];
  for (const r of EGRESS_REFUSAL_REASONS) lines.push(`  counter ${policyCounterName(r)} { }`);
  lines.push('  chain egress_policy {');
  const allow4 = p.allow.filter((c) => c.family === 4).map((c) => c.text);
  const allow6 = p.allow.filter((c) => c.family === 6).map((c) => c.text);
  if (allow4.length) lines.push(`    ip daddr { ${allow4.join(', ')} } return`);
  if (allow6.length) lines.push(`    ip6 daddr { ${allow6.join(', ')} } return`);
  // DNS on the pushed servers (the input guard lets it reach the node when a server is one of its addresses).
  const dns4 = (plan.dnsServers ?? []).filter((a) => isIP(a) === 4);
  const dns6 = (plan.dnsServers ?? []).filter((a) => isIP(a) === 6);
  if (dns4.length)
    lines.push(`    ip daddr { ${dns4.join(', ')} } meta l4proto { tcp, udp } th dport 53 return`);
  if (dns6.length)
    lines.push(`    ip6 daddr { ${dns6.join(', ')} } meta l4proto { tcp, udp } th dport 53 return`);
  const gw = policyCounterName('nodeAddress');
  lines.push(`    ip daddr ${plan.subnet4.gateway} icmp type echo-request return`);
  lines.push(`    ip daddr ${plan.subnet4.gateway} counter name "${gw}" ${reject}`);
  if (plan.subnet6) {
    lines.push(`    ip6 daddr ${plan.subnet6.gateway} icmpv6 type echo-request return`);
    lines.push(`    ip6 daddr ${plan.subnet6.gateway} counter name "${gw}" ${reject}`);
    lines.push(`    ip6 daddr ${plan.subnet6.network}/${plan.subnet6.prefix} return`);
  }
  lines.push(`    ip daddr ${plan.subnet4.network}/${plan.subnet4.prefix} return`);
  for (const reason of EGRESS_REFUSAL_REASONS) {
    const d4 = p.deny.filter((d) => d.reason === reason && d.cidr.family === 4).map((d) => d.cidr.text);
    const d6 = p.deny.filter((d) => d.reason === reason && d.cidr.family === 6).map((d) => d.cidr.text);
    const c = policyCounterName(reason);
    if (d4.length) lines.push(`    ip daddr { ${d4.join(', ')} } counter name "${c}" ${reject}`);
    if (d6.length) lines.push(`    ip6 daddr { ${d6.join(', ')} } counter name "${c}" ${reject}`);
  }
  lines.push('  }');
  lines.push('  chain prerouting {', '    type filter hook prerouting priority filter; policy accept;');
  lines.push(`    iifname ${tun} jump egress_policy`);
  lines.push('  }');
  return lines;
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
    const raw = this.store.readJson<Partial<KernelState>>('kernel-state.json');
    // Only what apply() can have written is undone: a corrupt or tampered file must not make root
    // write elsewhere than a network sysctl, nor delete a table that is not one of ours.
    const left: KernelState = {
      table: typeof raw?.table === 'string' && OWN_TABLE.test(raw.table) ? raw.table : null,
      sysctls: (Array.isArray(raw?.sysctls) ? raw.sysctls : []).filter(
        (x): x is SysctlChange =>
          typeof x?.path === 'string' &&
          NET_SYSCTL.test(x.path) &&
          !x.path.includes('..') &&
          typeof x.previous === 'string' &&
          /^\d{1,3}$/.test(x.previous),
      ),
    };
    if (left.table === null && left.sysctls.length === 0) {
      if (raw !== null) this.save();
      return null;
    }
    this.state = { table: left.table, sysctls: [...left.sysctls] };
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

  /** Refusals by reason from our table's named counters (packets); null when unreadable. */
  async policyCounters(): Promise<Record<EgressRefusalReason, number> | null> {
    if (this.state.table === null) return null;
    try {
      const out = await run(NFT, ['-j', 'list', 'counters', 'table', 'inet', this.state.table]);
      const doc = JSON.parse(out) as { nftables?: { counter?: { name?: string; packets?: number } }[] };
      const res = Object.fromEntries(EGRESS_REFUSAL_REASONS.map((r) => [r, 0])) as Record<
        EgressRefusalReason,
        number
      >;
      for (const item of doc.nftables ?? []) {
        const c = item.counter;
        if (!c?.name?.startsWith('refused_')) continue;
        const reason = c.name.slice('refused_'.length) as EgressRefusalReason;
        if (reason in res) res[reason] = c.packets ?? 0;
      }
      return res;
    } catch {
      return null;
    }
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
