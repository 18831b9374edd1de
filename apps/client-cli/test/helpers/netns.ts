/**
 * Network namespaces for vpnctl's kernel tests. Everything lives in namespaces named
 * `vpc<random>-<role>` that the test creates and deletes in `finally`, also on failure; the root
 * namespace gets no address, route, rule or DNS change. Addresses come from 198.18.0.0/15.
 * A namespace that will have its DNS changed gets its own /etc/netns/<ns>/resolv.conf FIRST.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';

export const isRoot = process.getuid?.() === 0;

export function kernelSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (!isRoot)
    return 'not root: kernel tests need network namespaces and CAP_NET_ADMIN (CI runs them as root)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  for (const tool of ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft']) if (existsSync(tool)) return undefined;
  return 'nft (nftables) is not installed';
}

export function sh(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

export const inNs = (ns: string, cmd: string, args: string[], input?: string) =>
  sh('ip', ['netns', 'exec', ns, cmd, ...args], input);

export interface Lab {
  readonly id: string;
  readonly client: string;
  readonly gateway: string;
  /** Client side address on the link, and the gateway's. */
  readonly clientAddr: string;
  readonly gatewayAddr: string;
  /** An "internet" host address behind the gateway (on the gateway's loopback). */
  readonly farAddr: string;
  /** The client namespace's own resolv.conf (bind-mounted over /etc/resolv.conf by `ip netns exec`). */
  readonly resolvConf: string;
  readonly clientIf: string;
  destroy(): Promise<void>;
}

const labs = new Set<Lab>();
process.once('exit', () => {
  for (const l of labs) void l.destroy();
});

/** Two namespaces: client <-veth-> gateway (default route of the client), the far host on the gateway. */
export async function createLab(): Promise<Lab> {
  const id = randomBytes(3).toString('hex');
  const client = `vpc${id}-c`;
  const gateway = `vpc${id}-g`;
  const octet = 16 + (parseInt(id.slice(0, 2), 16) % 200);
  const clientAddr = `198.18.${octet}.2`;
  const gatewayAddr = `198.18.${octet}.1`;
  const farAddr = `198.19.${octet}.10`;
  const netnsDir = `/etc/netns/${client}`;
  const resolvConf = `${netnsDir}/resolv.conf`;
  let destroyed = false;
  const lab: Lab = {
    id,
    client,
    gateway,
    clientAddr,
    gatewayAddr,
    farAddr,
    resolvConf,
    clientIf: `vc${id}`,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      labs.delete(lab);
      await sh('ip', ['netns', 'del', client]).catch(() => undefined);
      await sh('ip', ['netns', 'del', gateway]).catch(() => undefined);
      rmSync(netnsDir, { recursive: true, force: true });
    },
  };
  labs.add(lab);
  try {
    // resolv.conf of the namespace BEFORE anything runs in it (see the header).
    mkdirSync(netnsDir, { recursive: true });
    writeFileSync(resolvConf, 'nameserver 198.18.255.53\n');
    await sh('ip', ['netns', 'add', client]);
    await sh('ip', ['netns', 'add', gateway]);
    await sh('ip', [
      'link',
      'add',
      `vc${id}`,
      'netns',
      client,
      'type',
      'veth',
      'peer',
      'name',
      `vg${id}`,
      'netns',
      gateway,
    ]);
    await inNs(client, 'ip', ['link', 'set', 'lo', 'up']);
    await inNs(gateway, 'ip', ['link', 'set', 'lo', 'up']);
    await inNs(client, 'ip', ['addr', 'add', `${clientAddr}/24`, 'dev', `vc${id}`]);
    await inNs(gateway, 'ip', ['addr', 'add', `${gatewayAddr}/24`, 'dev', `vg${id}`]);
    await inNs(gateway, 'ip', ['addr', 'add', `${farAddr}/32`, 'dev', 'lo']);
    await inNs(client, 'ip', ['link', 'set', `vc${id}`, 'up']);
    await inNs(gateway, 'ip', ['link', 'set', `vg${id}`, 'up']);
    await inNs(client, 'ip', ['route', 'add', 'default', 'via', gatewayAddr]);
    await inNs(client, 'ip', [
      '-6',
      'addr',
      'add',
      `fd00:${id.slice(0, 4)}::2/64`,
      'dev',
      `vc${id}`,
      'nodad',
    ]);
    await inNs(gateway, 'ip', [
      '-6',
      'addr',
      'add',
      `fd00:${id.slice(0, 4)}::1/64`,
      'dev',
      `vg${id}`,
      'nodad',
    ]);
    await inNs(client, 'ip', ['-6', 'route', 'add', 'default', 'via', `fd00:${id.slice(0, 4)}::1`]);
  } catch (e) {
    await lab.destroy();
    throw e;
  }
  return lab;
}

/** Routing and firewall state of a namespace, for before/after comparisons. */
export async function snapshot(ns: string): Promise<{ v4: string; v6: string; nft: string }> {
  const strip = (s: string) =>
    s
      .split('\n')
      .filter((l) => l.trim() !== '')
      .sort()
      .join('\n');
  return {
    v4: strip(await inNs(ns, 'ip', ['-4', 'route', 'show', 'table', 'all'])),
    v6: strip(
      (await inNs(ns, 'ip', ['-6', 'route', 'show', 'table', 'main'])).replace(/ expires \d+sec/g, ''),
    ),
    nft: await inNs(ns, 'nft', ['list', 'ruleset']),
  };
}

export function spawnInNs(ns: string, argv: string[], env: Record<string, string>): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, ...argv], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}
