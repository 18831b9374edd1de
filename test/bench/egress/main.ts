/**
 * `pnpm bench:egress` (root): kernel egress against userspace egress through the same client, in one
 * run. The netns lab (test/lab) with the real controller, a kernel-mode node (root: TUN + nftables NAT)
 * on node-eu and a userspace-mode node (`nobody`, no capabilities: netstack + real sockets) on node-us,
 * the real `vpnctl connect` on client1 and servers on the web host (iperf3, conn-server.ts).
 *
 * Rounds alternate the order of the two modes (k,u / u,k / ...). Per round and mode: vpnctl connects
 * (UDP), then
 *   - bulk: iperf3 download (-R) and upload, one stream, CORRIDOR_BENCH_SECONDS each;
 *   - 100 parallel flows: iperf3 -P 100 -R;
 *   - connections per second: conn-rate.ts, 256 loops of connect → 1 byte → close;
 * and the node agent's CPU seconds (utime + stime from /proc) and RSS around each test. Kernel mode's
 * forwarding and NAT run in softirq context and are NOT in its agent's CPU figure; userspace mode does
 * all of its TCP/IP in the agent. The client (vpnctl) CPU is printed too: when it is the bottleneck
 * both modes look alike.
 *
 * Output: medians (min..max) per mode, the same per node CPU-second (what one core of the node does,
 * independent of how much CPU a loaded machine gave it; kernel mode's figure leaves out the kernel's
 * own forwarding/NAT work, so it flatters kernel mode), userspace/kernel ratios, the issue's goals (userspace bulk >=
 * 0.6x kernel, >= 2,000 connections/s) as MET/NOT, and `uptime` before and after: on a shared machine
 * only figures from the same run compare.
 *
 * Environment: CORRIDOR_BENCH_ROUNDS (3), CORRIDOR_BENCH_SECONDS (8), CORRIDOR_BENCH_CONCURRENCY (256),
 * CORRIDOR_BENCH_PROFILE=<dir> (the userspace node runs with --cpu-prof into <dir>), CORRIDOR_BENCH_ONLY
 * (comma-separated tests: bulk-down, bulk-up, flows-100, conn-rate).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLab, labSkipReason, type Lab, type LabHost } from '../../lab/index.js';
import { cleanupHarness, loginClient, startController } from '../../client-cli/harness.js';
import { cleanupRootless, NOBODY_UID, startNodeAs, type RootlessNode } from '../../rootless/harness.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../../..');
const TSX = path.join(ROOT, 'node_modules/tsx/dist/esm/index.mjs');
const ROUNDS = Number(process.env.CORRIDOR_BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.CORRIDOR_BENCH_SECONDS ?? 8);
const CONCURRENCY = Number(process.env.CORRIDOR_BENCH_CONCURRENCY ?? 256);
const PROFILE = process.env.CORRIDOR_BENCH_PROFILE;
const ONLY = process.env.CORRIDOR_BENCH_ONLY?.split(',').filter(Boolean);
const CLK_TCK = 100;

const log = (m: string) => process.stderr.write(`[bench:egress] ${m}\n`);
const uptime = () => execFileSync('uptime').toString().trim();

type Mode = 'kernel' | 'userspace';
const TESTS = ['bulk-down', 'bulk-up', 'flows-100', 'conn-rate'] as const;
type Test = (typeof TESTS)[number];

interface Sample {
  value: number; // Mbit/s, or connections/s
  nodeCpu: number; // CPU seconds of the node agent during the test
  clientCpu: number;
  rssMiB: number;
  extra?: string;
}

function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function iperf(client: LabHost, server: string, args: string[]): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const r = await client.exec(
      ['iperf3', '-c', server, '-p', '5201', '-t', String(SECONDS), '-J', ...args],
      {
        timeoutMs: (SECONDS + 30) * 1000,
      },
    );
    const doc = JSON.parse(r.stdout || '{}') as {
      end?: { sum_received?: { bits_per_second?: number } };
      error?: string;
    };
    // The server may still be closing the previous test (its control connection's close travels
    // through the tunnel) or restarting: wait and retry.
    if (doc.error && /busy|refused/.test(doc.error) && attempt < 20) {
      await new Promise((res) => setTimeout(res, 500));
      continue;
    }
    if (doc.error) throw new Error(`iperf3 ${args.join(' ')}: ${doc.error}`);
    return (doc.end?.sum_received?.bits_per_second ?? 0) / 1e6;
  }
}

async function connRate(client: LabHost, server: string): Promise<{ perSecond: number; extra: string }> {
  const r = await client.run(
    [
      process.execPath,
      '--import',
      TSX,
      path.join(HERE, 'conn-rate.ts'),
      server,
      '7000',
      String(SECONDS),
      String(CONCURRENCY),
    ],
    { timeoutMs: (SECONDS + 60) * 1000 },
  );
  const j = JSON.parse(r.trim().split('\n').at(-1)!) as {
    perSecond: number;
    failed: number;
    errors: Record<string, number>;
  };
  return {
    perSecond: j.perSecond,
    extra: j.failed ? `failed ${j.failed} ${JSON.stringify(j.errors)}` : '',
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

async function main(): Promise<void> {
  const skip = labSkipReason();
  if (skip) {
    log(`cannot run: ${skip}`);
    process.exitCode = 1;
    return;
  }
  log(`load before: ${uptime()}`);
  let lab: Lab | null = null;
  const results: Record<Mode, Record<Test, Sample[]>> = {
    kernel: { 'bulk-down': [], 'bulk-up': [], 'flows-100': [], 'conn-rate': [] },
    userspace: { 'bulk-down': [], 'bulk-up': [], 'flows-100': [], 'conn-rate': [] },
  };
  try {
    lab = await createLab({
      label: 'bench-egress',
      hosts: [
        { name: 'resolver', role: 'resolver' },
        { name: 'controller', role: 'controller' },
        { name: 'node-eu', role: 'node', region: 'eu' },
        { name: 'node-us', role: 'node', region: 'us' },
        { name: 'client1', role: 'client' },
        { name: 'web', role: 'web-echo' },
      ],
    });
    const web = lab.host('web');
    const clientHost = lab.host('client1');
    // Namespace-local tuning of the lab's own namespaces (never the root namespace): room for the
    // connection-rate test's ephemeral ports, and ICMP sockets for the unprivileged node.
    for (const h of [clientHost, lab.host('node-eu'), lab.host('node-us'), web]) {
      await h.run(['sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65000', 'net.ipv4.tcp_tw_reuse=1']);
    }
    await lab.host('node-us').run(['sysctl', '-qw', `net.ipv4.ping_group_range=${NOBODY_UID} ${NOBODY_UID}`]);
    // iperf3 servers sometimes exit when a test's sockets are reset under them: restart in a loop.
    const iperfd = web.spawn(['sh', '-c', 'while :; do iperf3 -s -p 5201 --forceflush; sleep 0.2; done'], {
      name: 'iperf3',
    });
    await iperfd.waitFor(/Server listening/, { timeoutMs: 10_000 });
    const connd = web.spawn(
      [process.execPath, '--import', TSX, path.join(HERE, 'conn-server.ts'), web.v4, '7000'],
      {
        name: 'conn-server',
      },
    );
    await connd.waitFor('ready', { timeoutMs: 30_000 });

    log('starting the controller and both nodes');
    const ctl = await startController(lab.host('controller'), { TICKET_TTL_S: '3600' });
    if (PROFILE) mkdirSync(PROFILE, { recursive: true, mode: 0o777 });
    const nodes: Record<Mode, RootlessNode> = {
      kernel: await startNodeAs(ctl, lab.host('node-eu'), { mode: 'kernel' }),
      userspace: await startNodeAs(ctl, lab.host('node-us'), {
        mode: 'userspace',
        nodeArgs: PROFILE ? ['--cpu-prof', '--cpu-prof-dir', PROFILE] : [],
      }),
    };
    const client = await loginClient(ctl, clientHost);

    for (let round = 1; round <= ROUNDS; round++) {
      const order: Mode[] = round % 2 === 1 ? ['kernel', 'userspace'] : ['userspace', 'kernel'];
      for (const mode of order) {
        const node = nodes[mode];
        const pid = node.process.pid;
        const { process: vpn } = await client.connect([node.id, '--transport', 'udp']);
        try {
          const measure = async (test: Test, fn: () => Promise<{ value: number; extra?: string }>) => {
            if (ONLY && !ONLY.includes(test)) return;
            const c0 = cpuSeconds(pid);
            const k0 = cpuSeconds(vpn.pid);
            const r = await fn();
            const s: Sample = {
              value: r.value,
              nodeCpu: cpuSeconds(pid) - c0,
              clientCpu: cpuSeconds(vpn.pid) - k0,
              rssMiB: rssMiB(pid),
              extra: r.extra,
            };
            results[mode][test].push(s);
            log(
              `round ${round} ${mode.padEnd(9)} ${test.padEnd(9)} ${fmt(s.value)} ${test === 'conn-rate' ? 'conn/s' : 'Mbit/s'}` +
                `  node CPU ${fmt(s.nodeCpu, 2)} s  client CPU ${fmt(s.clientCpu, 2)} s  node RSS ${fmt(s.rssMiB)} MiB ${s.extra ?? ''}`,
            );
          };
          await measure('bulk-down', async () => ({ value: await iperf(clientHost, web.v4, ['-R']) }));
          await measure('bulk-up', async () => ({ value: await iperf(clientHost, web.v4, []) }));
          await measure('flows-100', async () => ({
            value: await iperf(clientHost, web.v4, ['-R', '-P', '100']),
          }));
          await measure('conn-rate', async () => {
            const r = await connRate(clientHost, web.v4);
            return { value: r.perSecond, extra: r.extra };
          });
        } finally {
          await client.vpnctl(['disconnect']);
          await vpn.exited;
        }
      }
    }
    // Graceful stop so a --cpu-prof profile is written.
    await nodes.userspace.stop();
  } finally {
    await lab?.down();
    cleanupHarness();
    cleanupRootless();
  }

  // Report.
  const out: string[] = [];
  out.push('');
  out.push(`bench:egress  rounds ${ROUNDS}, ${SECONDS} s per test, conn-rate concurrency ${CONCURRENCY}`);
  out.push(
    'test        mode       median (min..max)              node CPU s  per node CPU-s   node RSS MiB  client CPU s',
  );
  for (const test of TESTS) {
    if (ONLY && !ONLY.includes(test)) continue;
    for (const mode of ['kernel', 'userspace'] as Mode[]) {
      const xs = results[mode][test];
      const v = xs.map((s) => s.value);
      const cpu = median(xs.map((s) => s.nodeCpu));
      const unit = test === 'conn-rate' ? 'conn/s' : 'Mbit/s';
      // What one CPU-second of the node moves: connections, or Mbit.
      const perCpu = median(xs.map((s) => (s.value * SECONDS) / s.nodeCpu));
      out.push(
        `${test.padEnd(11)} ${mode.padEnd(10)} ${`${fmt(median(v))} (${fmt(Math.min(...v))}..${fmt(Math.max(...v))}) ${unit}`.padEnd(30)}` +
          ` ${fmt(cpu, 2).padStart(10)}  ${`${fmt(perCpu)} ${test === 'conn-rate' ? 'conn' : 'Mbit'}`.padStart(15)}  ${fmt(median(xs.map((s) => s.rssMiB))).padStart(12)}  ${fmt(median(xs.map((s) => s.clientCpu)), 2).padStart(12)}`,
      );
    }
  }
  out.push('');
  out.push('ratios userspace / kernel (medians):');
  const ratio: Record<Test, number> = {} as Record<Test, number>;
  for (const test of TESTS) {
    if (ONLY && !ONLY.includes(test)) continue;
    ratio[test] =
      median(results.userspace[test].map((s) => s.value)) / median(results.kernel[test].map((s) => s.value));
    out.push(`  ${test.padEnd(10)} ${fmt(ratio[test], 2)}x`);
  }
  const bulk = Math.min(ratio['bulk-down'], ratio['bulk-up']);
  const rate = median(results.userspace['conn-rate'].map((s) => s.value));
  const ratePerCpu = median(results.userspace['conn-rate'].map((s) => (s.value * SECONDS) / s.nodeCpu));
  out.push('');
  out.push(
    `goal: userspace bulk >= 0.6x kernel          ${bulk >= 0.6 ? 'MET' : 'NOT MET'} (${fmt(bulk, 2)}x, the lower of down/up)`,
  );
  out.push(
    `goal: userspace connection rate >= 2,000/s   ${rate >= 2000 ? 'MET' : 'NOT MET'} (${fmt(rate)}/s; ${fmt(ratePerCpu)} per node CPU-second)`,
  );
  out.push(`load after: ${uptime()}`);
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((err: unknown) => {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
