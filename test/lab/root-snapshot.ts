// A snapshot of the root namespace's network state and DNS configuration, to prove a test left them
// as it found them. Everything is read-only (no command here creates a table or loads a module:
// legacy iptables tables are read from /proc, nftables with `nft list ruleset`). The outputs are
// compared byte for byte, except countdown timers (address lifetimes, route expiry), which are
// replaced by "<n>" because they change by themselves.
import { readFileSync } from 'node:fs';
import { runArgv } from './exec.js';

export type RootSnapshot = Readonly<Record<string, string>>;

const COMMANDS: Record<string, string[]> = {
  links: ['ip', '-o', 'link', 'show'],
  addresses: ['ip', '-o', 'addr', 'show'],
  'routes-v4': ['ip', '-4', 'route', 'show', 'table', 'all'],
  'routes-v6': ['ip', '-6', 'route', 'show', 'table', 'all'],
  'rules-v4': ['ip', '-4', 'rule', 'show'],
  'rules-v6': ['ip', '-6', 'rule', 'show'],
  nftables: ['nft', 'list', 'ruleset'],
};

const FILES: Record<string, string> = {
  'resolv.conf': '/etc/resolv.conf',
  hosts: '/etc/hosts',
  'iptables-legacy-tables': '/proc/net/ip_tables_names',
  'ip6tables-legacy-tables': '/proc/net/ip6_tables_names',
  'sysctl ipv4.ip_forward': '/proc/sys/net/ipv4/ip_forward',
  'sysctl ipv6.all.forwarding': '/proc/sys/net/ipv6/conf/all/forwarding',
  'sysctl ipv4.all.rp_filter': '/proc/sys/net/ipv4/conf/all/rp_filter',
};

function normalize(text: string): string {
  return text.replace(/\b(valid_lft|preferred_lft|expires) \d+sec\b/g, '$1 <n>sec');
}

/** Reads the root namespace's links, addresses, routes, rules, firewall, forwarding and DNS files. */
export async function snapshotRoot(): Promise<RootSnapshot> {
  const out: Record<string, string> = {};
  await Promise.all(
    Object.entries(COMMANDS).map(async ([key, argv]) => {
      const r = await runArgv(argv, { timeoutMs: 15_000 });
      out[key] = r.ok ? normalize(r.stdout) : `<${argv.join(' ')} failed: ${r.code} ${r.stderr.trim()}>`;
    }),
  );
  for (const [key, file] of Object.entries(FILES)) {
    try {
      out[key] = readFileSync(file, 'utf8');
    } catch (e) {
      out[key] = `<unreadable: ${(e as NodeJS.ErrnoException).code ?? 'error'}>`;
    }
  }
  return out;
}

/** Human-readable differences ("" when identical): for each changed item, the lines removed and added. */
export function diffSnapshots(before: RootSnapshot, after: RootSnapshot): string {
  const parts: string[] = [];
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[key] ?? '';
    const b = after[key] ?? '';
    if (a === b) continue;
    const al = a.split('\n');
    const bl = b.split('\n');
    const removed = al.filter((l) => !bl.includes(l)).map((l) => `  - ${l}`);
    const added = bl.filter((l) => !al.includes(l)).map((l) => `  + ${l}`);
    parts.push(`${key} changed:\n${[...removed, ...added].join('\n') || '  (order or whitespace)'}`);
  }
  return parts.join('\n');
}
