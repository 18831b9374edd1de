/**
 * The kill switch: an nftables table of our own (`inet corridor_vpnctl`) whose output and input
 * chains drop everything except loopback, the tunnel interface, the node's tunnel ports and the
 * controller's HTTPS port (needed to re-ticket while the tunnel is down), plus DHCP and IPv6
 * neighbour discovery so the machine keeps its own link. It stays in place while reconnecting and is
 * removed only by `vpnctl disconnect` (or crash recovery): with the tunnel down, nothing gets out.
 *
 * The table is installed and replaced atomically (one `nft -f` transaction) and deleted whole; no
 * other table or rule is touched. Every value in the script is validated first (names, IPs, ports).
 */
import { isIP } from 'node:net';
import { CommandError, NFT, run, systemError } from './exec.js';
import type { Change, Journal } from './journal.js';
import { CLI_ERROR_CODES, UserError } from '../errors.js';

export const KILL_SWITCH_TABLE = 'corridor_vpnctl';

export interface AllowedPeer {
  readonly address: string;
  readonly protocol: 'udp' | 'tcp';
  readonly port: number;
}

export interface KillSwitchRules {
  readonly tun: string;
  readonly allow: readonly AllowedPeer[];
}

/**
 * The nft script for the table. `create` (enabling) fails as a whole when the table already exists:
 * it then belongs to another vpnctl connection (another user's state dir, so another lock), whose
 * rules must be neither replaced nor, when this connection ends, deleted. `replace` (updating our
 * own table) swaps it atomically.
 */
export function killSwitchScript(
  table: string,
  rules: KillSwitchRules,
  mode: 'create' | 'replace' = 'replace',
): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(rules.tun)) throw new RangeError(`bad interface name ${rules.tun}`);
  const allow = rules.allow.map((a) => {
    const v = isIP(a.address);
    if (
      v === 0 ||
      !Number.isInteger(a.port) ||
      a.port < 1 ||
      a.port > 65535 ||
      (a.protocol !== 'udp' && a.protocol !== 'tcp')
    ) {
      throw new RangeError(`bad kill-switch exception ${JSON.stringify(a)}`);
    }
    return `    ${v === 4 ? 'ip' : 'ip6'} daddr ${a.address} ${a.protocol} dport ${a.port} accept`;
  });
  return [
    ...(mode === 'create'
      ? [`create table inet ${table}`]
      : [`table inet ${table} {}`, `delete table inet ${table}`]),
    `table inet ${table} {`,
    '  chain output {',
    '    type filter hook output priority filter; policy drop;',
    '    oifname "lo" accept',
    `    oifname "${rules.tun}" accept`,
    ...allow,
    '    udp sport 68 udp dport 67 accept',
    '    icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept',
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy drop;',
    '    iifname "lo" accept',
    `    iifname "${rules.tun}" accept`,
    '    ct state established,related accept',
    '    udp sport 67 udp dport 68 accept',
    '    icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } accept',
    '  }',
    '}',
    '',
  ].join('\n');
}

export class KillSwitch {
  private constructor(private rules: KillSwitchRules) {}

  /** Journals and installs the table. */
  static async enable(journal: Journal, rules: KillSwitchRules): Promise<KillSwitch> {
    const change: Change = { kind: 'firewall', family: 'inet', table: KILL_SWITCH_TABLE };
    await journal.record(change);
    try {
      await run(NFT, ['-f', '-'], killSwitchScript(KILL_SWITCH_TABLE, rules, 'create'));
    } catch (e) {
      await journal.forget(change);
      if (e instanceof CommandError && e.exists) {
        throw new UserError(
          CLI_ERROR_CODES.ALREADY_CONNECTED,
          `the kill switch of another vpnctl connection is in place (nftables table inet ${KILL_SWITCH_TABLE})`,
          `stop that connection first (\`vpnctl disconnect\`, as the user and with the environment that started it); if none is running, remove it: nft delete table inet ${KILL_SWITCH_TABLE}`,
          { cause: e },
        );
      }
      throw systemError(e, 'enable the kill switch (nftables)');
    }
    return new KillSwitch(rules);
  }

  /** Replaces the rules atomically (e.g. the node's address changed). */
  async update(rules: KillSwitchRules): Promise<void> {
    if (JSON.stringify(rules) === JSON.stringify(this.rules)) return;
    await run(NFT, ['-f', '-'], killSwitchScript(KILL_SWITCH_TABLE, rules));
    this.rules = rules;
  }
}

export async function undoFirewall(change: Extract<Change, { kind: 'firewall' }>): Promise<void> {
  try {
    await run(NFT, ['delete', 'table', change.family, change.table]);
  } catch (e) {
    if (e instanceof CommandError && e.notFound) return;
    throw e;
  }
}
