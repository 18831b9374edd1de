// `pnpm bench:netstack` (root): our userspace stack through a real TUN against kernel peers, with the
// kernel's own veth throughput measured in the same run as the ceiling.
//
//   ceiling   two namespaces joined by a veth pair: iperf3 (when installed) and node:net on both ends
//   netstack  one namespace: a Netstack behind a TUN (pinned to CPU 0) and node:net kernel peers
//             (pinned to CPU 1): one bulk flow each way, 1,000 concurrent echo flows, connection
//             setups per second both ways, memory per idle connection.
// Every figure also gives the CPU seconds our process spent (user + system, which includes the
// kernel's TUN work done in our context): throughput per CPU-second is the "on one core" number and,
// unlike wall-clock rates, does not depend on how loaded the shared machine is. Goals from issue 14:
// bulk >= 1 Gbit/s on one core, >= 5,000 connection setups/s.
//
// Env: CORRIDOR_BENCH_BYTES (bulk bytes, default 1 GiB), CORRIDOR_BENCH_SECONDS (rate runs, 3),
// CORRIDOR_BENCH_FLOWS (1000), CORRIDOR_BENCH_IDLE (idle connections, 5000), CORRIDOR_BENCH_MTU
// (TUN and veth MTU, 1500), CORRIDOR_BENCH_ONLY (comma list of: ceiling,up,down,flows,accept,connect,idle).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ip, kernelSkipReason, run, withNetns } from '../test/netns.js';

const BYTES = Number(process.env.CORRIDOR_BENCH_BYTES ?? 1 << 30);
const SECONDS = Number(process.env.CORRIDOR_BENCH_SECONDS ?? 3);
const FLOWS = Number(process.env.CORRIDOR_BENCH_FLOWS ?? 1000);
const IDLE = Number(process.env.CORRIDOR_BENCH_IDLE ?? 5000);
const MTU = Number(process.env.CORRIDOR_BENCH_MTU ?? 1500);
const ONLY = new Set(
  (process.env.CORRIDOR_BENCH_ONLY ?? 'ceiling,up,down,flows,accept,connect,idle').split(','),
);
const SIDE = fileURLToPath(new URL('./netstack-side.ts', import.meta.url));
const PEER = fileURLToPath(new URL('./kernel-peer.mjs', import.meta.url));
const PKG = fileURLToPath(new URL('..', import.meta.url));

const gbit = (bytes: number, seconds: number): number => (bytes * 8) / seconds / 1e9;
const fmt = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

function load(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return 'uptime unavailable';
  }
}

async function side(ns: string, mode: string, args: (string | number)[]): Promise<Record<string, unknown>> {
  const r = await run(
    'ip',
    [
      'netns',
      'exec',
      ns,
      'taskset',
      '-c',
      '0',
      process.execPath,
      '--expose-gc',
      '--import',
      'tsx',
      '--conditions=source',
      SIDE,
      mode,
      ...args.map(String),
    ],
    { cwd: PKG, timeoutMs: 600_000, env: { ...process.env, CORRIDOR_BENCH_MTU: String(MTU) } },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (r.code !== 0 || !line) throw new Error(`${mode} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line.slice(7)) as Record<string, unknown>;
}

interface Row {
  what: string;
  value: string;
  cpu: string;
  goal: string;
  ceiling: string;
}
const rows: Row[] = [];
const row = (r: Row): void => {
  rows.push(r);
  console.log(
    `  ${r.what.padEnd(44)} ${r.value.padStart(18)} ${r.cpu.padStart(22)} ${r.goal.padStart(12)} ${r.ceiling}`,
  );
};

async function ceiling(): Promise<{ iperf: number; node: number }> {
  const out = { iperf: NaN, node: NaN };
  await withNetns((a) =>
    withNetns(async (b) => {
      const va = `crva${Math.floor(Math.random() * 1e5)}`;
      const vb = `crvb${Math.floor(Math.random() * 1e5)}`;
      await ip(['link', 'add', va, 'netns', a, 'type', 'veth', 'peer', 'name', vb, 'netns', b]);
      await ip(['-n', a, 'addr', 'add', '198.18.50.1/24', 'dev', va]);
      await ip(['-n', b, 'addr', 'add', '198.18.50.2/24', 'dev', vb]);
      await ip(['-n', a, 'link', 'set', va, 'mtu', String(MTU), 'up']);
      await ip(['-n', b, 'link', 'set', vb, 'mtu', String(MTU), 'up']);
      if (existsSync('/usr/bin/iperf3')) {
        const srv = run(
          'ip',
          ['netns', 'exec', b, 'taskset', '-c', '1', 'iperf3', '-s', '-1', '-B', '198.18.50.2'],
          {
            timeoutMs: 60_000,
          },
        );
        await new Promise((r) => setTimeout(r, 500));
        const c = await run(
          'ip',
          [
            'netns',
            'exec',
            a,
            'taskset',
            '-c',
            '0',
            'iperf3',
            '-c',
            '198.18.50.2',
            '-t',
            String(SECONDS),
            '-J',
          ],
          { timeoutMs: 60_000 },
        );
        await srv;
        try {
          const j = JSON.parse(c.stdout) as { end: { sum_received: { bits_per_second: number } } };
          out.iperf = j.end.sum_received.bits_per_second / 1e9;
        } catch {
          console.log(`  (iperf3 failed: ${c.stderr.trim().slice(0, 200)})`);
        }
      }
      // node:net on both ends (the same peer program the netstack runs use). The sink is our own child:
      // it reports per connection and is stopped by its pid once it has.
      const sink = spawn(
        'ip',
        ['netns', 'exec', b, 'taskset', '-c', '1', process.execPath, PEER, 'sink', '198.18.50.2', '5201'],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      try {
        let buf = '';
        const report = new Promise<string>((resolve) => {
          sink.stdout.on('data', (d: Buffer) => {
            buf += d.toString();
            const line = buf.split('\n').find((l) => l.startsWith('PEER '));
            if (line) resolve(line);
          });
        });
        await new Promise((r) => setTimeout(r, 500));
        await run(
          'ip',
          [
            'netns',
            'exec',
            a,
            'taskset',
            '-c',
            '0',
            process.execPath,
            PEER,
            'source',
            '198.18.50.2',
            '5201',
            String(BYTES),
          ],
          { timeoutMs: 120_000 },
        );
        const line = await Promise.race([
          report,
          new Promise<string>((r) => setTimeout(() => r(''), 10_000)),
        ]);
        if (line) {
          const j = JSON.parse(line.slice(5)) as { bytes: number; seconds: number };
          out.node = gbit(j.bytes, j.seconds);
        }
      } finally {
        sink.kill();
      }
    }),
  );
  return out;
}

async function main(): Promise<void> {
  const skip = kernelSkipReason();
  if (skip) {
    console.log(`bench:netstack needs root and a TUN: ${skip}`);
    process.exit(1);
  }
  console.log(`bench:netstack — ${new Date().toISOString()}, node ${process.version}, MTU ${MTU}`);
  console.log(`load before: ${load()}`);
  console.log(
    `  ${'figure'.padEnd(44)} ${'wall-clock'.padStart(13)}  ${'our CPU (user+sys)'.padEnd(34)} ${'goal'.padEnd(24)} vs ceiling`,
  );
  let ceil = { iperf: NaN, node: NaN };
  if (ONLY.has('ceiling')) {
    ceil = await ceiling();
    row({
      what: 'ceiling: kernel veth, iperf3',
      value: `${fmt(ceil.iperf)} Gbit/s`,
      cpu: '',
      goal: '',
      ceiling: '',
    });
    row({
      what: 'ceiling: kernel veth, node:net both ends',
      value: `${fmt(ceil.node)} Gbit/s`,
      cpu: '',
      goal: '',
      ceiling: '',
    });
  }
  const vs = (g: number): string =>
    `${fmt(g / ceil.node)}x node:net veth, ${fmt(g / ceil.iperf)}x iperf3 veth`;
  const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  await withNetns(async (ns) => {
    for (const dir of ['up', 'down'] as const) {
      if (!ONLY.has(dir)) continue;
      const r = await side(ns, dir, [BYTES]);
      const g = gbit(r.bytes as number, r.seconds as number);
      const perCore = gbit(r.bytes as number, r.cpu as number);
      row({
        what: dir === 'up' ? 'bulk kernel -> netstack (1 flow)' : 'bulk netstack -> kernel (1 flow)',
        value: `${fmt(g)} Gbit/s`,
        cpu: `${fmt(perCore)} Gbit/s/core, ${fmt((r.cpu as number) / ((r.bytes as number) / 1e9))} s/GB`,
        goal: `>=1/core ${met(perCore >= 1)}`,
        ceiling: `wall ${vs(g)}`,
      });
    }
    if (ONLY.has('flows')) {
      const r = await side(ns, 'flows', [FLOWS, 65536]);
      row({
        what: `${r.count} concurrent echo flows, 64 KiB each way`,
        value: `${fmt(gbit(r.bytes as number, r.seconds as number))} Gbit/s`,
        cpu: `${fmt((r.cpu as number) / ((r.bytes as number) / 1e9))} s/GB`,
        goal: `${r.ok}/${r.count} ok`,
        ceiling: '',
      });
    }
    if (ONLY.has('accept')) {
      const r = await side(ns, 'accept-rate', [SECONDS, 64]);
      const rate = (r.done as number) / (r.seconds as number);
      const perCore = (r.done as number) / (r.cpu as number);
      row({
        what: 'connection setups/s, kernel -> netstack',
        value: `${fmt(rate, 0)} /s`,
        cpu: `${fmt(perCore, 0)} /s/core, ${fmt(1e6 / perCore, 0)} µs/conn`,
        goal: `>=5000 ${met(rate >= 5000)}${rate < 5000 && perCore >= 5000 ? ' (wall; per core met)' : ''}`,
        // The node:net connector on the other core: when it is as busy as the wall clock, it is the limit.
        ceiling: `kernel-side connector busy ${fmt(((r.peerCpu as number) / (r.seconds as number)) * 100, 0)} % of its core`,
      });
    }
    if (ONLY.has('connect')) {
      const r = await side(ns, 'connect-rate', [SECONDS, 64]);
      const rate = (r.done as number) / (r.seconds as number);
      const perCore = (r.done as number) / (r.cpu as number);
      row({
        what: 'connection setups/s, netstack -> kernel',
        value: `${fmt(rate, 0)} /s`,
        cpu: `${fmt(perCore, 0)} /s/core, ${fmt(1e6 / perCore, 0)} µs/conn`,
        goal: `>=5000 ${met(rate >= 5000)}${rate < 5000 && perCore >= 5000 ? ' (wall; per core met)' : ''}`,
        ceiling: '',
      });
    }
    if (ONLY.has('idle')) {
      const r = await side(ns, 'idle', [IDLE]);
      row({
        what: `memory per idle connection (${r.accepted} open)`,
        value: `${fmt((r.bytesPerConnection as number) / 1024, 2)} KiB`,
        cpu: `JS heap + external; buffers: ${r.bufferBytes} B`,
        goal: '',
        ceiling: '',
      });
    }
  });
  console.log(`load after: ${load()}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
