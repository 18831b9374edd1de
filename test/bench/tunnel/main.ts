/**
 * `pnpm bench:tunnel` (root): Corridor against the tunnels users would pick instead, on this machine,
 * in one run. Two network namespaces joined by a veth pair (netns.ts); per round and per contender,
 * in turn: the tunnel comes up, `iperf3 -t 10` client -> node with 20 pings during it, 20 idle pings,
 * node -> client (-R), 4 parallel streams, the tunnel goes down. Contenders (contenders.ts,
 * corridor.ts): bare veth, Corridor UDP, TCP, TLS and WSS (real controller, `corridor-node`, `vpnctl`),
 * wireguard-go, OpenVPN 2.6 UDP AES-256-GCM / CHACHA20-POLY1305, OpenVPN TCP.
 *
 * Output: a table of median (min..max) Mbit/s per test, idle and loaded RTT, CPU seconds of the
 * tunnel processes (both ends) per GB moved and the node-side RSS; Corridor's ratios to each
 * contender; the issue's goals as MET/NOT. `uptime` load is printed before and after: the figures are
 * only comparable within one run.
 *
 * Environment: CORRIDOR_BENCH_ROUNDS (3), CORRIDOR_BENCH_SECONDS (10), CORRIDOR_BENCH_ONLY
 * (comma-separated ids, e.g. `corridor-udp,wireguard-go`), CORRIDOR_BENCH_PROFILE=<dir>, CORRIDOR_BENCH_NODE_FLAGS and CORRIDOR_BENCH_FROM_SOURCE=1 (see corridor.ts), CORRIDOR_BENCH_NODE_ARGS
 * (extra corridor-node flags), CORRIDOR_BENCH_HOLD=<id>[,<id>...] (bring contenders up side by side and wait
 * for Ctrl-C, for profiling by hand).
 * Missing tools are installed with apt-get when running as root.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  OpenvpnContender,
  VethContender,
  WireguardGoContender,
  makeOpenvpnPki,
  type Contender,
} from './contenders.js';
import { BUILD_FILTERS, BUILT, CorridorContender, CorridorService, FROM_SOURCE, ROOT } from './corridor.js';
import { TESTS, measureRound, type RunFigures } from './measure.js';
import { BenchNet, memoryMiB, type Proc } from './netns.js';
import { median, renderTables, renderVerdicts, summarize, verdicts, type ContenderResult } from './report.js';

const ROUNDS = Number(process.env.CORRIDOR_BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.CORRIDOR_BENCH_SECONDS ?? 10);
const ONLY = process.env.CORRIDOR_BENCH_ONLY?.split(',').filter(Boolean);

const log = (msg: string) => process.stderr.write(`[bench:tunnel] ${msg}\n`);

/** Tools the benchmark runs, and the Debian package of each. */
const TOOLS: [string, string][] = [
  ['iperf3', 'iperf3'],
  ['ping', 'iputils-ping'],
  ['ip', 'iproute2'],
  ['nft', 'nftables'],
  ['wireguard-go', 'wireguard-go'],
  ['wg', 'wireguard-tools'],
  ['openvpn', 'openvpn'],
  ['openssl', 'openssl'],
];

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function ensureTools(): void {
  const missing = TOOLS.filter(([cmd]) => !hasCommand(cmd)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  log(`installing the contenders and tools this benchmark runs: apt-get install ${missing.join(' ')}`);
  const apt = (args: string[]) =>
    execFileSync('apt-get', args, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  try {
    apt(['install', '-y', '--no-install-recommends', ...missing]);
  } catch {
    apt(['update']);
    apt(['install', '-y', '--no-install-recommends', ...missing]);
  }
}

function ensureGenerated(): void {
  if (existsSync(path.join(ROOT, 'apps/controller/src/generated'))) return;
  log('generating the controller Prisma client (pnpm --filter @corridor/controller run generate)');
  execFileSync('pnpm', ['--filter', '@corridor/controller', 'run', 'generate'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}

/** Builds corridor-node, vpnctl and the packages they use (dist/ is what their bins run). */
function ensureBuilt(): void {
  if (FROM_SOURCE) return;
  log(`building corridor-node and vpnctl (pnpm ${BUILD_FILTERS.join(' ')} run build)`);
  execFileSync('pnpm', [...BUILD_FILTERS, 'run', 'build'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (const f of BUILT) if (!existsSync(f)) throw new Error(`the build did not produce ${f}`);
}

function uptime(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

function version(argv: string[]): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')[0]!
      .trim();
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? '').split('\n')[0] ?? '?';
  }
}

async function main(): Promise<number> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    log(
      'needs root on Linux (network namespaces, TUN devices, the contenders): run `sudo pnpm bench:tunnel`',
    );
    return 1;
  }
  if (!existsSync('/dev/net/tun')) {
    log('/dev/net/tun is missing: load the tun module (`modprobe tun`)');
    return 1;
  }
  ensureTools();
  ensureGenerated();
  ensureBuilt();

  // What killed runs (of this benchmark or of the lab) left behind goes first.
  for (const r of BenchNet.sweep())
    log(
      `removed the leftovers of killed run ${r.runId}: ${r.namespaces.length} namespace(s), ${r.killed} process(es)`,
    );
  const net = new BenchNet();
  const tmp = net.dir;
  let svc: CorridorService | null = null;
  const contenders: Contender[] = [];
  let iperfServer: Proc | null = null;
  let cleaning: Promise<void> | null = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const c of contenders) await c.down().catch(() => undefined);
      await svc?.stop().catch(() => undefined);
      await iperfServer?.stop().catch(() => undefined);
      await net.down(); // namespaces, processes, the work dir `tmp`
    })());
  const onSignal = () => {
    log('interrupted: cleaning up');
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);

  try {
    const loadBefore = uptime();
    log(`load average before: ${loadBefore}; namespaces ${net.client} / ${net.node}`);
    await net.up();
    const want = (id: string) => !ONLY || ONLY.includes(id);
    const all: Contender[] = [new VethContender()];
    if (['corridor-udp', 'corridor-tcp', 'corridor-tls', 'corridor-wss'].some(want)) {
      svc = new CorridorService(net, tmp);
      log('starting the controller and corridor-node (clients: vpnctl connect)');
      await svc.start();
      all.push(
        new CorridorContender(net, svc, 'udp'),
        new CorridorContender(net, svc, 'tcp'),
        new CorridorContender(net, svc, 'tls'),
        new CorridorContender(net, svc, 'wss'),
      );
    }
    all.push(new WireguardGoContender(net, tmp));
    if (['openvpn-udp-aes', 'openvpn-udp-chacha', 'openvpn-tcp'].some(want)) {
      const pki = path.join(tmp, 'pki');
      execFileSync('mkdir', ['-m', '700', pki]);
      await makeOpenvpnPki(pki);
      all.push(
        new OpenvpnContender(net, pki, 'openvpn-udp-aes', 'OpenVPN UDP AES-256-GCM', {
          proto: 'udp',
          cipher: 'AES-256-GCM',
          subnet: 2,
          port: 1194,
        }),
        new OpenvpnContender(net, pki, 'openvpn-udp-chacha', 'OpenVPN UDP CHACHA20-POLY1305', {
          proto: 'udp',
          cipher: 'CHACHA20-POLY1305',
          subnet: 3,
          port: 1195,
        }),
        new OpenvpnContender(net, pki, 'openvpn-tcp', 'OpenVPN TCP AES-256-GCM', {
          proto: 'tcp',
          cipher: 'AES-256-GCM',
          subnet: 4,
          port: 1196,
        }),
      );
    }
    contenders.push(...all.filter((c) => want(c.id)));
    // One iperf3 server in the node namespace, restarted should it exit — or on request: a test whose
    // tunnel went down under it can leave iperf3 3.12 "busy" for good (measure.ts asks for a restart
    // when it stays busy; --rcv-timeout ends such a test after 5 s without data anyway).
    const ensureServer = async (restart = false): Promise<void> => {
      if (restart && iperfServer?.running) {
        log('iperf3 server stuck in an earlier test: restarting it');
        await iperfServer.stop(2000);
      }
      if (iperfServer?.running) return;
      if (iperfServer && !restart)
        log(`iperf3 server exited, restarting; its last output: ${iperfServer.output.slice(-400)}`);
      iperfServer = net.spawn(net.node, 'iperf3 server', [
        'iperf3',
        '-s',
        '--forceflush',
        '--rcv-timeout',
        '5000',
      ]);
      await iperfServer.waitFor(/Server listening/, 10_000);
    };
    await ensureServer();

    const hold = process.env.CORRIDOR_BENCH_HOLD?.split(',').filter(Boolean);
    if (hold) {
      // Profiling aid: the named contenders up side by side, nothing measured, until Ctrl-C / SIGTERM.
      for (const id of hold) {
        const c = contenders.find((x) => x.id === id);
        if (!c)
          throw new Error(
            `CORRIDOR_BENCH_HOLD=${id}: no such contender (${contenders.map((x) => x.id).join(', ')})`,
          );
        await c.up();
        log(
          `holding ${c.id} (bench pid ${process.pid}): client ns ${net.client}, node ns ${net.node}, server ${c.serverIp}, pids ${c.pids().join(' ')}`,
        );
      }
      await new Promise(() => undefined);
    }
    const results = new Map<string, ContenderResult>(
      contenders.map((c) => [c.id, { contender: c, rounds: [], failures: [], nodeMemory: null }]),
    );
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate: every round visits every contender, starting one further each time.
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[(k + round) % contenders.length]!;
        const r = results.get(c.id)!;
        log(`round ${round + 1}/${ROUNDS}: ${c.label} (load ${uptime()})`);
        try {
          await c.up();
          const res = await measureRound(net, c, SECONDS, ensureServer);
          r.rounds.push(res);
          const pid = c.nodePid();
          if (pid !== null) r.nodeMemory = memoryMiB(pid);
          const perGB = (t: RunFigures) =>
            t.cpuByProcess.map((x) => (x / (t.bytes / 1e9)).toFixed(2)).join('+');
          log(
            `  ${TESTS.map((t) => `${t} ${res.runs[t].mbps.toFixed(0)} Mbit/s (${perGB(res.runs[t])} s/GB)`).join(', ')}; ` +
              `RTT idle ${median(res.idleRttMs).toFixed(3)} loaded ${median(res.loadedRttMs).toFixed(3)} ms`,
          );
        } catch (e) {
          // One failed round (a tunnel that did not come up, an iperf3 run that kept failing) costs
          // that round, not the whole run: the table says how many rounds each contender completed.
          r.failures.push(`round ${round + 1}: ${(e as Error).message.split('\n')[0]}`);
          log(`  round failed: ${(e as Error).message}`);
          if (c.id.startsWith('corridor') && svc?.agent)
            log(`corridor-node output (tail):\n${svc.agent.output.slice(-1500)}`);
        } finally {
          await c.down();
        }
      }
    }
    const loadAfter = uptime();
    const sums = [...results.values()].map(summarize);
    const header = [
      `Corridor tunnel benchmark: ${ROUNDS} rounds of iperf3 -t ${SECONDS} (TCP) per test, alternating contenders`,
      `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, kernel ${os.release()}, node ${process.version}`,
      `load average (uptime): before ${loadBefore}, after ${loadAfter}`,
      `versions: ${version(['wireguard-go', '--version'])}; ${version(['openvpn', '--version'])}; ${version(['iperf3', '--version'])}`,
      `Corridor: corridor-node run + vpnctl connect (root, client namespace), ${FROM_SOURCE ? 'from source (tsx)' : 'built binaries (dist/)'}${svc === null ? ': not run' : ''}`,
      'inner MTU 1420 everywhere; CPU = user+system seconds of the tunnel processes on both ends per GB received by iperf3',
      'idle RTT: 20 pings after the first transfer (a tunnel in use); loaded RTT: 20 pings during it',
      '',
    ];
    process.stdout.write(
      header.join('\n') + renderTables(sums) + '\n\nGoals:\n' + renderVerdicts(verdicts(sums)) + '\n',
    );
    return 0;
  } catch (e) {
    log(`failed: ${(e as Error).stack ?? String(e)}`);
    if (svc?.agent) log(`corridor-node output (tail):\n${svc.agent.output.slice(-3000)}`);
    return 1;
  } finally {
    await cleanup();
  }
}

process.exitCode = await main();
