/**
 * The node agent runs with the privileges the deployment files give it, and no more — checked for
 * real in a network namespace of its own (random name, removed in afterAll), with the built
 * agent's kernel setup (TUN, addresses, nftables table, UDP/TCP listeners):
 *   - as deploy/systemd/corridor-node.service runs it: an unprivileged uid holding only
 *     CAP_NET_ADMIN and CAP_NET_BIND_SERVICE as ambient capabilities, no new privileges, and
 *     /proc/sys read-only (ProtectKernelTunables) with forwarding set beforehand
 *     (deploy/systemd/90-corridor-node.conf);
 *   - as docker-compose.yml runs it: root with CAP_NET_ADMIN as its only capability, no new
 *     privileges, forwarding and ip_unprivileged_port_start set as the compose sysctls do.
 * In both, the agent must come up, and remove its nftables table again on SIGTERM. Without those
 * privileges (the same uid with no capabilities) it must refuse with its CAP_NET_ADMIN hint. The
 * controller is unreachable on purpose: the agent admits from its caches and starts regardless, so
 * a credential file stands in for enrollment. Root only (network namespaces); skipped otherwise
 * with the reason printed. Nothing is sent anywhere: the namespace has no link out.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, mkdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolSkipReason } from './lib/controller-fixture.js';
import { start, tsxArgs, type Proc } from './lib/processes.js';

const skip =
  (os.userInfo().uid === 0 ? undefined : 'not root (network namespaces and capability sets)') ??
  toolSkipReason('ip', ['-V'], 'Debian package iproute2') ??
  toolSkipReason('nft', ['--version'], 'Debian package nftables') ??
  toolSkipReason('setpriv', ['--version'], 'Debian package util-linux') ??
  toolSkipReason('unshare', ['--version'], 'Debian package util-linux');
if (skip) console.warn(`[deploy/node-privileges] skipping: ${skip}`);

const NOBODY = 65534;
const CAPS = '+net_admin,+net_bind_service';

describe.skipIf(skip !== undefined)('node agent privileges as deployed', { timeout: 120_000 }, () => {
  const suffix = randomBytes(3).toString('hex');
  const ns = `cdep-${suffix}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'corridor-node-priv-'));
  const procs: Proc[] = [];

  const inNs = (...args: string[]) => spawnSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });

  /** A data dir with a credential (stands in for enrollment), owned by `uid`, mode 0700. */
  function dataDir(name: string, uid: number): string {
    const d = path.join(dir, name);
    mkdirSync(d, { mode: 0o700 });
    writeFileSync(
      path.join(d, 'credential.json'),
      JSON.stringify({ nodeId: 'fra-1', credential: 'c'.repeat(43) }),
      {
        mode: 0o600,
      },
    );
    chownSync(d, uid, uid);
    chownSync(path.join(d, 'credential.json'), uid, uid);
    return d;
  }

  /** `corridor-node run` in the namespace under `wrapper` (setpriv ...), with its own TUN name. */
  function runAgent(name: string, wrapper: string[], data: string, tun: string): Proc {
    const env = {
      PATH: process.env.PATH,
      CORRIDOR_CONTROLLER_URL: 'https://127.0.0.1:9/',
      CORRIDOR_CONTROLLER_FINGERPRINT: Array(32).fill('AB').join(':'),
      CORRIDOR_NODE_ID: 'fra-1',
      CORRIDOR_DATA_DIR: data,
      CORRIDOR_UDP_LISTEN: '0.0.0.0:51820',
      CORRIDOR_TCP_LISTEN: '0.0.0.0:443',
      CORRIDOR_TUN_NAME: tun,
      CORRIDOR_CLIENT_SUBNET: '10.8.0.0/24',
      CORRIDOR_CLIENT_SUBNET6: 'auto',
      CORRIDOR_EGRESS_INTERFACE: 'eg0',
      CORRIDOR_METRICS_LISTEN: 'off',
      CORRIDOR_LOG_LEVEL: 'info',
    };
    const p = start(
      name,
      'ip',
      ['netns', 'exec', ns, ...wrapper, process.execPath, ...tsxArgs('apps/node-agent/src/main.ts'), 'run'],
      env,
      dir,
    );
    procs.push(p);
    return p;
  }

  beforeAll(() => {
    chmodSync(dir, 0o755);
    // The namespace's resolv.conf must exist before any `ip netns exec` (never the host's own).
    mkdirSync(`/etc/netns/${ns}`, { recursive: true });
    writeFileSync(`/etc/netns/${ns}/resolv.conf`, 'nameserver 127.0.0.1\n');
    expect(spawnSync('ip', ['netns', 'add', ns]).status).toBe(0);
    for (const cmd of [
      ['ip', 'link', 'set', 'lo', 'up'],
      // A stand-in egress interface (a veth pair with both ends in here): the NAT rule needs one.
      ['ip', 'link', 'add', 'eg0', 'type', 'veth', 'peer', 'name', 'eg1'],
      ['ip', 'link', 'set', 'eg1', 'up'],
      ['ip', 'addr', 'add', '198.18.250.2/24', 'dev', 'eg0'],
      ['ip', 'link', 'set', 'eg0', 'up'],
      // What deploy/systemd/90-corridor-node.conf and the compose sysctls set before the agent starts.
      ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'],
      ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1'],
    ]) {
      const r = inNs(...cmd);
      expect(r.status, `${cmd.join(' ')}: ${r.stderr}`).toBe(0);
    }
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGTERM', 10_000)));
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  async function expectRunsAndCleansUp(agent: Proc, tun: string): Promise<void> {
    await agent.waitFor(/node agent running/, 90_000);
    const table = inNs('nft', 'list', 'table', 'inet', `corridor_${tun}`);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/masquerade/);
    const addr = inNs('ip', '-4', 'addr', 'show', 'dev', tun);
    expect(addr.stdout).toContain('10.8.0.1/24');
    const sockets = inNs('ss', '-H', '-lnut');
    expect(sockets.stdout).toMatch(/udp[^\n]*0\.0\.0\.0:51820/);
    expect(sockets.stdout).toMatch(/tcp[^\n]*0\.0\.0\.0:443/);
    await agent.stop('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(inNs('nft', 'list', 'table', 'inet', `corridor_${tun}`).status).not.toBe(0);
  }

  it('corridor-node.service: an unprivileged uid with ambient CAP_NET_ADMIN + CAP_NET_BIND_SERVICE, /proc/sys read-only', async () => {
    const data = dataDir('systemd', NOBODY);
    const devDir = path.join(dir, 'dev');
    mkdirSync(devDir);
    const tun = `cs${suffix}`;
    const agent = runAgent(
      'agent-systemd',
      [
        // In a private mount namespace: /proc/sys read-only (ProtectKernelTunables=yes), and
        // /dev/net/tun with the mode Debian's udev gives it (0666; some hosts, this one included,
        // have 0600, where the unit needs a udev rule — docs/deploy.md).
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        [
          'mount --bind /proc/sys /proc/sys',
          'mount -o remount,bind,ro /proc/sys',
          'mount -t tmpfs -o mode=0755 tmpfs "$0"',
          'mknod -m 0666 "$0/tun" c 10 200',
          'mount --bind "$0/tun" /dev/net/tun',
          'exec "$@"',
        ].join(' && '),
        devDir,
        'setpriv',
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        `--inh-caps=-all,${CAPS}`,
        `--ambient-caps=-all,${CAPS}`,
        `--bounding-set=-all,${CAPS}`,
        '--no-new-privs',
      ],
      data,
      tun,
    );
    await expectRunsAndCleansUp(agent, tun);
  });

  it('docker-compose.yml: root with CAP_NET_ADMIN as its only capability', async () => {
    const data = dataDir('docker', 0);
    const tun = `cd${suffix}`;
    // The compose sysctl for the TCP transport on 443 without CAP_NET_BIND_SERVICE.
    expect(inNs('sysctl', '-q', '-w', 'net.ipv4.ip_unprivileged_port_start=0').status).toBe(0);
    try {
      const agent = runAgent(
        'agent-docker',
        ['setpriv', '--inh-caps=-all', '--bounding-set=-all,+net_admin', '--no-new-privs'],
        data,
        tun,
      );
      await expectRunsAndCleansUp(agent, tun);
    } finally {
      inNs('sysctl', '-q', '-w', 'net.ipv4.ip_unprivileged_port_start=1024');
    }
  });

  it('refuses to start without CAP_NET_ADMIN, naming the capability', async () => {
    const data = dataDir('none', NOBODY);
    const agent = runAgent(
      'agent-unprivileged',
      [
        'setpriv',
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        '--inh-caps=-all',
        '--bounding-set=-all',
        '--no-new-privs',
      ],
      data,
      `cn${suffix}`,
    );
    expect(await agent.exited).toBe(1);
    expect(agent.output).toMatch(/CAP_NET_ADMIN/);
  });
});
