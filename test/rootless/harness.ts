/**
 * Helpers for the rootless node tests and the egress benchmark, on top of test/client-cli/harness.ts:
 *
 *   - startNodeAs(): `corridor-node run` in a lab node host, either as root (egress=kernel, as the
 *     client-cli harness does) or as `nobody` with no capabilities at all (setpriv: uid/gid 65534, no
 *     supplementary groups, empty inheritable/ambient/bounding sets, no_new_privs) and egress=userspace;
 *   - nodeStatus(): `corridor-node status --json` through the agent's status socket (as root, in the
 *     node's namespace);
 *   - addLan(): a private LAN behind a node (a namespace of our own, veth to the node, a web server on
 *     192.168.77.2:8080), the "node's own private network" the egress policy must keep clients off.
 *
 * Everything lives in namespaces the lab or these helpers created; addLan's namespace is removed by the
 * returned `remove()` (call it in afterAll even after a failure).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LabHost, LabProcess } from '../lab/index.js';
import { NODE_AGENT_MAIN, ROOT, type ControllerHandle } from '../client-cli/harness.js';

const TSX = path.join(ROOT, 'node_modules/tsx/dist/esm/index.mjs');
export const NOBODY_UID = 65534;
export const NOGROUP_GID = 65534;

export interface RootlessNode {
  readonly id: string;
  readonly host: LabHost;
  readonly dataDir: string;
  readonly mode: 'kernel' | 'userspace';
  process: LabProcess;
  stop(): Promise<void>;
  /** `corridor-node status --json`. */
  status(): Promise<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** GET /metrics from inside the node's namespace. */
  metrics(): Promise<string>;
}

const dirs: string[] = [];
export function cleanupRootless(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** setpriv argv that drops to nobody:nogroup with no capabilities and no way to regain any. */
export const AS_NOBODY = [
  'setpriv',
  `--reuid=${NOBODY_UID}`,
  `--regid=${NOGROUP_GID}`,
  '--clear-groups',
  '--inh-caps=-all',
  '--ambient-caps=-all',
  '--bounding-set=-all',
  '--no-new-privs',
  '--',
];

export async function startNodeAs(
  ctl: ControllerHandle,
  host: LabHost,
  opts: {
    mode: 'kernel' | 'userspace';
    dnsServers?: string[];
    extra?: string[];
    tcpPort?: number;
    nodeArgs?: string[];
  },
): Promise<RootlessNode> {
  const id = `${host.name}-${randomBytes(2).toString('hex')}`;
  const tcpPort = opts.tcpPort ?? (opts.mode === 'userspace' ? 8443 : 443);
  const created = await ctl.call<{ enrollmentToken: string }>(
    'POST',
    '/v1/admin/nodes',
    {
      id,
      region: host.region ?? 'eu',
      country: 'DE',
      city: 'Frankfurt',
      endpoint: { host: host.v4, udpPort: 51820, tcpPort },
    },
    `Bearer ${await ctl.adminToken()}`,
  );
  if (created.status !== 201) throw new Error(`create node: ${JSON.stringify(created)}`);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `corridor-rootless-${opts.mode}-`));
  dirs.push(dataDir);
  if (opts.mode === 'userspace') {
    chownSync(dataDir, NOBODY_UID, NOGROUP_GID);
    chmodSync(dataDir, 0o700);
  }
  const args = [
    'run',
    '--controller-url',
    ctl.url,
    '--controller-fingerprint',
    ctl.fingerprint256,
    '--node-id',
    id,
    '--data-dir',
    dataDir,
    '--egress',
    opts.mode,
    ...(opts.mode === 'kernel' ? ['--egress-interface', host.iface] : []),
    '--udp-listen',
    '0.0.0.0:51820',
    '--tcp-listen',
    `0.0.0.0:${tcpPort}`,
    '--heartbeat-seconds',
    '2',
    '--metrics-listen',
    '127.0.0.1:9817',
    ...(opts.dnsServers ? ['--dns-servers', opts.dnsServers.join(',')] : []),
    ...(opts.extra ?? []),
    '--enrollment-token',
    created.body.enrollmentToken,
  ];
  const argv = [
    ...(opts.mode === 'userspace' ? AS_NOBODY : []),
    process.execPath,
    ...(opts.nodeArgs ?? []),
    '--import',
    TSX,
    '--conditions=source',
    NODE_AGENT_MAIN,
    ...args,
  ];
  const proc = host.spawn(argv, { name: `node-${opts.mode}`, env: { ...process.env, HOME: dataDir } });
  await proc.waitFor(/"node agent running"/, { timeoutMs: 90_000, stream: 'stderr' });
  const handle: RootlessNode = {
    id,
    host,
    dataDir,
    mode: opts.mode,
    process: proc,
    async stop() {
      await handle.process.stop({ signal: 'SIGTERM', graceMs: 10_000 });
    },
    async status() {
      const out = await host.run(
        [
          process.execPath,
          '--import',
          TSX,
          '--conditions=source',
          NODE_AGENT_MAIN,
          'status',
          '--json',
          '--data-dir',
          dataDir,
        ],
        { timeoutMs: 30_000 },
      );
      return JSON.parse(out) as Record<string, unknown>;
    },
    async metrics() {
      return host.run(['curl', '-sS', '--max-time', '5', 'http://127.0.0.1:9817/metrics']);
    },
  };
  // Online at the controller (its first heartbeat) before clients ask for tickets.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await ctl.call<{ nodes: { id: string; online: boolean }[] }>(
      'GET',
      '/v1/nodes',
      undefined,
      `Bearer ${await ctl.adminToken()}`,
    );
    if (r.body.nodes?.some((n) => n.id === id && n.online)) break;
    if (!proc.running) throw new Error(`node agent exited:\n${proc.stderr()}`);
    if (Date.now() > deadline) throw new Error(`node ${id} did not come online:\n${proc.stderr()}`);
    await new Promise((res) => setTimeout(res, 500));
  }
  return handle;
}

export interface Lan {
  readonly ns: string;
  readonly nodeAddress: string;
  readonly hostAddress: string;
  readonly url: string;
  remove(): void;
}

/**
 * A private LAN behind `node`: namespace `cre-<random>` linked to the node by a veth pair, the node at
 * 192.168.77.1/24, a web server at 192.168.77.2:8080 answering "lan". Create it BEFORE the agent
 * starts (the agent reads its interfaces' subnets at start for the `node` deny group).
 */
export function addLan(node: LabHost): Lan {
  const suffix = randomBytes(3).toString('hex');
  const ns = `cre-${suffix}`;
  const a = `lna-${suffix}`;
  const b = `lnb-${suffix}`;
  const sh = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { stdio: 'pipe' });
  const remove = () => {
    try {
      sh(['ip', 'netns', 'pids', ns]) // kill whatever runs in it first
        .toString()
        .split('\n')
        .filter(Boolean)
        .forEach((pid) => {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone
          }
        });
    } catch {
      // no namespace
    }
    try {
      sh(['ip', 'netns', 'del', ns]);
    } catch {
      // already gone
    }
    try {
      sh(['ip', '-n', node.ns, 'link', 'del', a]);
    } catch {
      // went with the namespace
    }
  };
  try {
    sh(['ip', 'netns', 'add', ns]);
    sh(['ip', '-n', node.ns, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', ns]);
    sh(['ip', '-n', node.ns, 'addr', 'add', '192.168.77.1/24', 'dev', a]);
    sh(['ip', '-n', node.ns, 'link', 'set', a, 'up']);
    sh(['ip', '-n', ns, 'addr', 'add', '192.168.77.2/24', 'dev', b]);
    sh(['ip', '-n', ns, 'link', 'set', b, 'up']);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', ns, 'route', 'add', 'default', 'via', '192.168.77.1']);
    const server = `require('http').createServer((q,s)=>s.end('lan\\n')).listen(8080,'192.168.77.2',()=>console.log('lan up'))`;
    execFileSync('sh', ['-c', `ip netns exec ${ns} ${process.execPath} -e "${server}" >/dev/null 2>&1 &`]);
  } catch (err) {
    remove();
    throw err;
  }
  return {
    ns,
    nodeAddress: '192.168.77.1',
    hostAddress: '192.168.77.2',
    url: 'http://192.168.77.2:8080/',
    remove,
  };
}
