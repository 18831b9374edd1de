// `pnpm bench:tun`: packets/s and Gbit/s of 1400-byte packets through a kernel TUN, ours vs the naive way.
//
// Every measurement runs in a fresh network namespace (crtun-<pid>-<n>, deleted afterwards even on
// failure) as a child process pinned to CPU 0 (the "TUN side"); the kernel sender/receiver runs pinned
// to the other CPU. Read: packets delivered to JavaScript while a kernel UDP sender floods a route into
// the TUN. Write: packets written into the TUN, addressed to the TUN's own address and a UDP port bound in
// another process (bench/udp-sink.mjs), cross-checked with the kernel's counters in the same window
// (interface rx_packets and the namespace's UDP receive counters).
// Naive: same device (created by the addon, blocking fd) but node:fs read/write on the libuv thread pool.
import { cpus, loadavg } from 'node:os';
import { deleteActiveNamespacesSync, kernelSkipReason, PACKAGE_DIR, run, withNetns } from '../test/netns.js';

const DURATION_MS = Number(process.env.CORRIDOR_BENCH_MS ?? 5000);
const ROUNDS = Math.max(1, Number(process.env.CORRIDOR_BENCH_ROUNDS ?? 2));
const PACKET = 1400;
const GOAL_PPS = 400_000;
const GOAL_RATIO = 3;

interface Measurement {
  mode: string;
  packets: number;
  seconds: number;
  error?: string;
  [k: string]: unknown;
}

async function measure(mode: string, tunCpu: number, otherCpu: number): Promise<Measurement> {
  return withNetns(async (ns) => {
    const r = await run(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'taskset',
        '-c',
        String(tunCpu),
        process.execPath,
        '--import',
        'tsx',
        '--conditions=source',
        'bench/worker.ts',
        mode,
        String(DURATION_MS),
        String(otherCpu),
      ],
      { cwd: PACKAGE_DIR, timeoutMs: DURATION_MS + 20_000 },
    );
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line)
      return {
        mode,
        packets: 0,
        seconds: 1,
        error: `no result (exit ${r.code}): ${r.stderr.trim().slice(-500)}`,
      };
    return JSON.parse(line.slice('RESULT '.length)) as Measurement;
  });
}

const pps = (m: Measurement): number => m.packets / m.seconds;
const fmtPps = (v: number): string => Math.round(v).toLocaleString('en-US').padStart(11);
const gbps = (v: number): string => ((v * PACKET * 8) / 1e9).toFixed(2).padStart(6);
/** What the kernel sender pushed at the TUN during the window: queued for the reader + dropped (queue full). */
const offered = (m: Measurement): string => {
  const tx = Number(m.kernelTx ?? 0);
  const dropped = Number(m.kernelTxDropped ?? 0);
  const bound = dropped === 0 ? ' (reader kept up: the sender was the limit)' : '';
  return (
    `kernel offered ${fmtPps((tx + dropped) / m.seconds).trim()}/s, ` +
    `dropped at full TUN queue ${fmtPps(dropped / m.seconds).trim()}/s${bound}`
  );
};
/** Kernel-side counts for the written packets in the same window. */
const written = (m: Measurement): string =>
  `kernel counted: TUN rx_packets ${m.kernelRx}, UDP layer (InDatagrams+RcvbufErrors) ${m.udp}, of ${m.packets} written`;
const line = (label: string, m: Measurement, extra: string): string =>
  m.error
    ? `${label}: ERROR ${m.error}`
    : `${label}: ${fmtPps(pps(m))} packets/s  ${gbps(pps(m))} Gbit/s   ${extra}`;

// CORRIDOR_BENCH_ONLY=read-ours,write-ours runs a subset (e.g. to compare builds); default: all four.
const ONLY = process.env.CORRIDOR_BENCH_ONLY?.split(',').map((m) => m.trim());
const MODES = (
  [
    ['read-ours', 'read  ours  (addon uv_poll, batched)  '],
    ['read-naive', 'read  naive (fs.read, thread pool)    '],
    ['write-ours', 'write ours  (addon writeSlab, batched)'],
    ['write-naive', 'write naive (fs.write, thread pool)   '],
  ] as const
).filter(([mode]) => !ONLY || ONLY.includes(mode));

/**
 * CPU the TUN-side process used in the window (user + kernel, all its threads) per packet: what one
 * packet costs on this side, whatever the sender or the machine's load did to the packet rate.
 */
const cpuCost = (m: Measurement): string => {
  const user = Number(m.cpuUserUs ?? 0);
  const system = Number(m.cpuSystemUs ?? 0);
  if (!m.packets) return '';
  const pct = ((user + system) / 1e4 / m.seconds).toFixed(0);
  const per = (us: number): string => (us / m.packets).toFixed(2);
  return `; CPU ${pct}%, ${per(user + system)} us/pkt (user ${per(user)} + sys ${per(system)})`;
};

function details(m: Measurement): string {
  if (m.mode.startsWith('read')) {
    const batch = m.avgBatch === undefined ? '' : `avg batch ${Number(m.avgBatch).toFixed(1)} pkts; `;
    return batch + offered(m) + cpuCost(m);
  }
  return written(m) + cpuCost(m);
}

async function main(): Promise<void> {
  const skip = kernelSkipReason();
  if (skip) {
    console.log(`[bench:tun] cannot run: ${skip}`);
    process.exitCode = 1;
    return;
  }
  const n = cpus().length;
  const tunCpu = 0;
  const otherCpu = n > 1 ? 1 : 0;
  console.log(
    `[bench:tun] ${PACKET}-byte IPv4/UDP packets, ${DURATION_MS / 1000} s per measurement (after 0.5 s warm-up), ` +
      `best of ${ROUNDS} rounds; TUN side pinned to CPU ${tunCpu}, kernel sender/receiver on CPU ${otherCpu} ` +
      `(${n} CPUs); node ${process.version}; load average at start ${loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')}`,
  );
  const best = new Map<string, Measurement>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [mode, label] of MODES) {
      const m = await measure(mode, tunCpu, otherCpu);
      console.log(`round ${round} ${line(label, m, details(m))}`);
      const prev = best.get(mode);
      if (!m.error && (!prev || prev.error || pps(m) > pps(prev))) best.set(mode, m);
    }
  }
  console.log('--- best of rounds ---');
  for (const [mode, label] of MODES) {
    const m = best.get(mode);
    console.log(m ? line(label, m, details(m)) : `${label}: no successful run`);
  }
  const get = (mode: string): number => {
    const m = best.get(mode);
    return m ? pps(m) : 0;
  };
  const ok = (v: number, r: number): string => (v >= GOAL_PPS && r >= GOAL_RATIO ? 'met' : 'NOT met');
  const goals: string[] = [];
  for (const dir of ['read', 'write'] as const) {
    const selected = MODES.filter(([mode]) => mode.startsWith(dir)).length === 2;
    if (!selected) continue; // CORRIDOR_BENCH_ONLY left out one of the pair
    if (!best.has(`${dir}-ours`) || !best.has(`${dir}-naive`)) {
      goals.push(`${dir} NOT met (no successful run)`);
      continue;
    }
    const ratio = get(`${dir}-ours`) / get(`${dir}-naive`);
    console.log(`ratio ${dir.padEnd(5)} ours/naive: ${ratio.toFixed(2)}x`);
    goals.push(`${dir} ${ok(get(`${dir}-ours`), ratio)}`);
  }
  if (goals.length > 0) {
    console.log(
      `goal (>= ${GOAL_PPS.toLocaleString('en-US')} packets/s and >= ${GOAL_RATIO}x naive): ${goals.join(', ')}`,
    );
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // Children in the namespace die with their process group; the namespace must not outlive us.
    deleteActiveNamespacesSync();
    process.exit(130);
  });
}

main().catch((err: unknown) => {
  console.error('[bench:tun] failed:', err);
  process.exitCode = 1;
});
