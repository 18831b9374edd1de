/**
 * `pnpm bench:tunnel` (root): Corridor against the tunnels users would pick instead, on this machine,
 * in one run. Two network namespaces joined by a veth pair (netns.ts); per round and per contender,
 * in turn: the tunnel comes up, 20 idle pings, `iperf3 -t 10` client -> node with 20 pings during it,
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
 * (comma-separated ids, e.g. `corridor-udp,wireguard-go`), CORRIDOR_BENCH_CLIENT=driver and
 * CORRIDOR_BENCH_PROFILE=<dir> and CORRIDOR_BENCH_NODE_FLAGS (see corridor.ts), CORRIDOR_BENCH_NODE_ARGS
 * (extra corridor-node flags), CORRIDOR_BENCH_HOLD=<id> (bring one contender up and wait for Ctrl-C, for
 * profiling by hand).
 * Missing tools are installed with apt-get when running as root.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  OpenvpnContender,
  VethContender,
  WireguardGoContender,
  makeOpenvpnPki,
  type Contender,
} from './contenders.js';
import { CorridorContender, CorridorService, ROOT } from './corridor.js';
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

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'corridor-bench-tunnel-'));
  const net = new BenchNet();
  let svc: CorridorService | null = null;
  const contenders: Contender[] = [];
  let iperfServer: Proc | null = null;
  let cleaning: Promise<void> | null = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const c of contenders) await c.down().catch(() => undefined);
      await svc?.stop().catch(() => undefined);
      await iperfServer?.stop().catch(() => undefined);
      await net.down();
      rmSync(tmp, { recursive: true, force: true });
    })());
  const onSignal = () => {
    log('interrupted: cleaning up');
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const loadBefore = uptime();
    log(`load average before: ${loadBefore}; namespaces ${net.client} / ${net.node}`);
    await net.up();
    const want = (id: string) => !ONLY || ONLY.includes(id);
    const all: Contender[] = [new VethContender()];
    if (['corridor-udp', 'corridor-tcp', 'corridor-tls', 'corridor-wss'].some(want)) {
      svc = new CorridorService(net, tmp);
      log(
        `starting the controller and corridor-node (client: ${svc.useVpnctl ? 'vpnctl' : 'bench client driver'})`,
      );
      await svc.start();
      all.push(new CorridorContender(net, svc, 'udp'), new CorridorContender(net, svc, 'tcp'));
      // tls and wss (the HTTPS front) need vpnctl: the bench client driver speaks udp and tcp only.
      if (svc.useVpnctl)
        all.push(new CorridorContender(net, svc, 'tls'), new CorridorContender(net, svc, 'wss'));
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
    // One iperf3 server in the node namespace for the whole run (restarted should it ever exit).
    const ensureServer = async (): Promise<void> => {
      if (iperfServer?.running) return;
      if (iperfServer)
        log(`iperf3 server exited, restarting; its last output: ${iperfServer.output.slice(-400)}`);
      iperfServer = net.spawn(net.node, 'iperf3 server', ['iperf3', '-s', '--forceflush']);
      await iperfServer.waitFor(/Server listening/, 10_000);
    };
    await ensureServer();

    const hold = process.env.CORRIDOR_BENCH_HOLD;
    if (hold) {
      // Profiling aid: one contender up, nothing measured, until Ctrl-C / SIGTERM.
      const c = contenders.find((x) => x.id === hold);
      if (!c)
        throw new Error(
          `CORRIDOR_BENCH_HOLD=${hold}: no such contender (${contenders.map((x) => x.id).join(', ')})`,
        );
      await c.up();
      log(
        `holding ${c.id} (bench pid ${process.pid}): client ns ${net.client}, node ns ${net.node}, server ${c.serverIp}, pids ${c.pids().join(' ')}`,
      );
      await new Promise(() => undefined);
    }
    const results = new Map<string, ContenderResult>(
      contenders.map((c) => [c.id, { contender: c, rounds: [], nodeMemory: null }]),
    );
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate: every round visits every contender, starting one further each time.
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[(k + round) % contenders.length]!;
        const r = results.get(c.id)!;
        log(`round ${round + 1}/${ROUNDS}: ${c.label} (load ${uptime()})`);
        await c.up();
        try {
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
      `Corridor client: ${svc === null ? 'not run' : svc.useVpnctl ? 'vpnctl connect' : 'bench client driver (CORRIDOR_BENCH_CLIENT=driver, or no vpnctl connect in this checkout)'}`,
      'inner MTU 1420 everywhere; CPU = user+system seconds of the tunnel processes on both ends per GB received by iperf3',
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
