/**
 * `pnpm bench:proxy` (root): `vpnctl proxy` against `vpnctl connect` through the same node, in one
 * run, on the netns lab (test/lab: resolver, controller, node-eu, client1, web; real controller,
 * `corridor-node` and `vpnctl` processes). Per round, in turn:
 *
 *   connect  `vpnctl connect <node> --transport udp`: the kernel TUN; curl downloads
 *            web/bytes/<N> directly (bulk), and conn-rate.ts opens connections directly;
 *   proxy    `vpnctl proxy <node> --transport udp`: no TUN; the same download with
 *            `curl --socks5-hostname`, and conn-rate.ts through SOCKS5 CONNECT.
 *
 * Printed: median (min..max) of the bulk throughput (MB/s) and of the connection setup rate (per
 * second, with `CORRIDOR_BENCH_CONCURRENCY` workers), vpnctl's CPU seconds per GB moved and CPU
 * milliseconds per connection (from /proc/<pid>/stat: these do not depend on the machine's load),
 * and proxy/connect ratios; `uptime` load before and after (the machine is
 * shared: figures compare only within one run).
 *
 * Environment: CORRIDOR_BENCH_ROUNDS (3), CORRIDOR_BENCH_BYTES (200000000), CORRIDOR_BENCH_SECONDS
 * (5, per connection-rate run), CORRIDOR_BENCH_CONCURRENCY (16).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createLab, labSkipReason, type Lab, type LabHost } from '../../lab/index.js';
import {
  cleanupHarness,
  loginClient,
  ROOT,
  startController,
  startNode,
  type ClientHandle,
  type NodeHandle,
  vpnctlArgv,
} from '../../client-cli/harness.js';

const ROUNDS = Number(process.env.CORRIDOR_BENCH_ROUNDS ?? 3);
const BYTES = Number(process.env.CORRIDOR_BENCH_BYTES ?? 200_000_000);
const SECONDS = Number(process.env.CORRIDOR_BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.CORRIDOR_BENCH_CONCURRENCY ?? 16);
const SOCKS_PORT = 1080;
const TSX = path.join(ROOT, 'node_modules/tsx/dist/esm/index.mjs');
const CONN_RATE = [process.execPath, '--import', TSX, path.join(ROOT, 'test/bench/proxy/conn-rate.ts')];

const log = (msg: string) => process.stderr.write(`[bench:proxy] ${msg}\n`);
const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();

interface Figures {
  mbPerSecond: number;
  cpuSecondsPerGB: number;
  connectionsPerSecond: number;
  /** vpnctl CPU per connection set up (load-independent, unlike the rate on a shared machine). */
  cpuMsPerConnection: number;
  connectionErrors: number;
}

/** utime + stime of a process, seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100; // USER_HZ
}

async function bulk(
  client: LabHost,
  url: string,
  proxyArgs: string[],
): Promise<{ bytes: number; seconds: number }> {
  const r = await client.exec(
    [
      'curl',
      '-sS',
      '--fail',
      '--max-time',
      '300',
      ...proxyArgs,
      '-o',
      '/dev/null',
      '-w',
      '%{size_download} %{time_total}',
      url,
    ],
    { timeoutMs: 320_000 },
  );
  if (r.code !== 0) throw new Error(`curl failed: ${r.stderr}`);
  const [bytes, seconds] = r.stdout.trim().split(' ').map(Number) as [number, number];
  if (bytes !== BYTES) throw new Error(`short download: ${bytes} of ${BYTES}`);
  return { bytes, seconds };
}

async function connRate(
  client: LabHost,
  mode: string,
  web: LabHost,
): Promise<{ perSecond: number; errors: number; connections: number }> {
  const r = await client.exec([...CONN_RATE, mode, web.v4, '80', String(CONCURRENCY), String(SECONDS)], {
    timeoutMs: (SECONDS + 60) * 1000,
  });
  if (r.code !== 0) throw new Error(`conn-rate failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    perSecond: number;
    errors: number;
    connections: number;
  };
  return j;
}

async function measure(
  kind: 'connect' | 'proxy',
  c: ClientHandle,
  node: NodeHandle,
  web: LabHost,
): Promise<Figures> {
  const url = web.url(`/bytes/${BYTES}`);
  if (kind === 'connect') {
    const { process: vpn, status } = await c.connect([node.id, '--transport', 'udp', '--no-dns']);
    try {
      const pid = status.pid as number;
      const cpu0 = cpuSeconds(pid);
      const b = await bulk(c.host, url, []);
      const cpu = cpuSeconds(pid) - cpu0;
      const cpu1 = cpuSeconds(pid);
      const rate = await connRate(c.host, 'direct', web);
      return {
        mbPerSecond: b.bytes / b.seconds / 1e6,
        cpuSecondsPerGB: cpu / (b.bytes / 1e9),
        connectionsPerSecond: rate.perSecond,
        cpuMsPerConnection: ((cpuSeconds(pid) - cpu1) * 1000) / Math.max(1, rate.connections),
        connectionErrors: rate.errors,
      };
    } finally {
      await c.vpnctl(['disconnect']);
      await vpn.exited;
    }
  }
  const proc = c.host.spawn(
    [
      ...vpnctlArgv(
        'proxy',
        node.id,
        '--transport',
        'udp',
        '--socks',
        `127.0.0.1:${SOCKS_PORT}`,
        '--http',
        'off',
        '--json',
      ),
    ],
    { name: 'vpnctl-proxy', env: { ...process.env, ...c.env } },
  );
  try {
    const line = await proc.waitFor(/^\{"state":"connected"/, { timeoutMs: 60_000, stream: 'stdout' });
    const pid = (JSON.parse(line) as { pid: number }).pid;
    const cpu0 = cpuSeconds(pid);
    const b = await bulk(c.host, url, ['--socks5-hostname', `127.0.0.1:${SOCKS_PORT}`]);
    const cpu = cpuSeconds(pid) - cpu0;
    const cpu1 = cpuSeconds(pid);
    const rate = await connRate(c.host, `socks:${SOCKS_PORT}`, web);
    return {
      mbPerSecond: b.bytes / b.seconds / 1e6,
      cpuSecondsPerGB: cpu / (b.bytes / 1e9),
      connectionsPerSecond: rate.perSecond,
      cpuMsPerConnection: ((cpuSeconds(pid) - cpu1) * 1000) / Math.max(1, rate.connections),
      connectionErrors: rate.errors,
    };
  } finally {
    await c.vpnctl(['disconnect']);
    await proc.exited;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const span = (xs: number[], digits: number) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}..${Math.max(...xs).toFixed(digits)})`;

async function main(): Promise<void> {
  const skip = labSkipReason();
  if (skip) {
    log(`cannot run: ${skip}`);
    process.exit(1);
  }
  log(`load before: ${uptime()}`);
  let lab: Lab | undefined;
  try {
    lab = await createLab({
      label: 'bench/proxy',
      hosts: [
        { name: 'resolver', role: 'resolver' },
        { name: 'controller', role: 'controller' },
        { name: 'node-eu', role: 'node', region: 'eu' },
        { name: 'client1', role: 'client' },
        { name: 'web', role: 'web-echo' },
      ],
    });
    const ctl = await startController(lab.host('controller'), { TICKET_TTL_S: '3600' });
    const node = await startNode(ctl, lab.host('node-eu'), { dnsServers: [lab.host('resolver').v4] });
    const client = await loginClient(ctl, lab.host('client1'));
    const web = lab.host('web');
    const results: Record<'connect' | 'proxy', Figures[]> = { connect: [], proxy: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      for (const kind of ['connect', 'proxy'] as const) {
        const f = await measure(kind, client, node, web);
        results[kind].push(f);
        log(
          `round ${round} ${kind}: ${f.mbPerSecond.toFixed(1)} MB/s, ${f.cpuSecondsPerGB.toFixed(2)} CPU-s/GB, ` +
            `${f.connectionsPerSecond.toFixed(0)} connections/s (${f.cpuMsPerConnection.toFixed(2)} CPU-ms each, ${f.connectionErrors} errors)`,
        );
      }
    }
    const col = (k: 'connect' | 'proxy', f: keyof Figures, d: number) =>
      span(
        results[k].map((x) => x[f]),
        d,
      );
    const ratio = (f: keyof Figures) =>
      (median(results.proxy.map((x) => x[f])) / median(results.connect.map((x) => x[f]))).toFixed(2);
    const rows = [
      ['', 'vpnctl connect (TUN)', 'vpnctl proxy (SOCKS5)', 'proxy / connect'],
      [
        'bulk download, MB/s',
        col('connect', 'mbPerSecond', 1),
        col('proxy', 'mbPerSecond', 1),
        ratio('mbPerSecond'),
      ],
      [
        'vpnctl CPU-s per GB',
        col('connect', 'cpuSecondsPerGB', 2),
        col('proxy', 'cpuSecondsPerGB', 2),
        ratio('cpuSecondsPerGB'),
      ],
      [
        `connection setups/s (${CONCURRENCY} workers)`,
        col('connect', 'connectionsPerSecond', 0),
        col('proxy', 'connectionsPerSecond', 0),
        ratio('connectionsPerSecond'),
      ],
      [
        'vpnctl CPU-ms per connection',
        col('connect', 'cpuMsPerConnection', 2),
        col('proxy', 'cpuMsPerConnection', 2),
        ratio('cpuMsPerConnection'),
      ],
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const out = [
      `bench:proxy — ${ROUNDS} round(s), ${BYTES} bytes per download, ${SECONDS} s per connection-rate run, same node (UDP transport)`,
      ...rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')),
      `connection errors: connect ${results.connect.reduce((n, x) => n + x.connectionErrors, 0)}, proxy ${results.proxy.reduce((n, x) => n + x.connectionErrors, 0)}`,
    ];
    console.log(out.join('\n'));
  } finally {
    await lab?.down();
    cleanupHarness();
    log(`load after: ${uptime()}`);
  }
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
