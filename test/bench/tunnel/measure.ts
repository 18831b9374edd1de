/**
 * One contender's measurements in one round: three `iperf3 -t <s>` TCP runs through the tunnel
 * (client -> node, node -> client with -R, 4 parallel streams client -> node), with 20 pings during
 * the first one (loaded RTT) and 20 idle pings after it (idle RTT of a tunnel in use). CPU seconds of the tunnel's processes are read from
 * /proc before and after each run.
 */
import type { Contender } from './contenders.js';
import { cpuSeconds, sleep, type BenchNet } from './netns.js';

export const TESTS = ['up', 'down', 'parallel'] as const;

/** Whether iperf3 got as far as measuring (a failure after that is the tunnel's, never retried). */
function started(json: string): boolean {
  try {
    return ((JSON.parse(json) as { intervals?: unknown[] }).intervals?.length ?? 0) > 0;
  } catch {
    return false;
  }
}

/** iperf3 failures that happen before a test starts (see iperf()). */
const RETRYABLE =
  /server is busy|Connection refused|unable to connect to server|unable to (send|receive) control message|Connection reset by peer/;
export type TestName = (typeof TESTS)[number];

export interface RunFigures {
  mbps: number;
  bytes: number;
  cpuSeconds: number;
  /** The same per tunnel process, in the order of Contender.pids(). */
  cpuByProcess: number[];
  /** Retransmitted segments reported by the iperf3 sender. */
  retransmits: number;
}

export interface RoundResult {
  idleRttMs: number[];
  loadedRttMs: number[];
  runs: Record<TestName, RunFigures>;
}

interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bytes: number; bits_per_second: number };
    sum_sent?: { retransmits?: number };
  };
}

/** Parses `ping` output into RTTs in ms (lost pings are left out). */
export function parsePing(text: string): number[] {
  return [...text.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

export async function pings(net: BenchNet, ip: string, count: number, intervalS: number): Promise<number[]> {
  const r = await net.exec(
    net.client,
    ['ping', '-n', '-c', String(count), '-i', String(intervalS), '-W', '2', ip],
    {
      timeoutMs: (count * intervalS + 10) * 1000,
    },
  );
  return parsePing(r.stdout);
}

async function iperf(
  net: BenchNet,
  c: Contender,
  args: string[],
  seconds: number,
  ensureServer: (restart?: boolean) => Promise<void>,
): Promise<RunFigures> {
  const pids = c.pids();
  await ensureServer();
  let before = pids.map(cpuSeconds);
  let r = await net.exec(net.client, ['iperf3', '-c', c.serverIp, '-t', String(seconds), '-J', ...args], {
    timeoutMs: (seconds + 30) * 1000,
  });
  // The server may still be closing the previous test's connections (e.g. through a TCP tunnel: it
  // then refuses or resets the next control connection), or have exited (ensureServer then starts a
  // new one). Nothing was measured in such an attempt, so it is simply repeated.
  for (let i = 0; i < 20 && RETRYABLE.test(r.stdout) && !started(r.stdout); i++) {
    await sleep(500);
    // Busy for 3 s: the server holds on to a test that will never end; a new server it is.
    await ensureServer(i >= 5 && /server is busy/.test(r.stdout));
    before = pids.map(cpuSeconds);
    r = await net.exec(net.client, ['iperf3', '-c', c.serverIp, '-t', String(seconds), '-J', ...args], {
      timeoutMs: (seconds + 30) * 1000,
    });
  }
  const cpuByProcess = pids.map((p, i) => cpuSeconds(p) - before[i]!);
  let j: IperfJson;
  try {
    j = JSON.parse(r.stdout) as IperfJson;
  } catch {
    throw new Error(
      `iperf3 ${args.join(' ')} via ${c.id}: no JSON (exit ${r.code}): ${r.stderr || r.stdout}`,
    );
  }
  if (j.error || !j.end?.sum_received)
    throw new Error(`iperf3 ${args.join(' ')} via ${c.id}: ${j.error ?? 'no result'}`);
  return {
    mbps: j.end.sum_received.bits_per_second / 1e6,
    bytes: j.end.sum_received.bytes,
    cpuSeconds: cpuByProcess.reduce((a, b) => a + b, 0),
    cpuByProcess,
    retransmits: j.end.sum_sent?.retransmits ?? 0,
  };
}

export async function measureRound(
  net: BenchNet,
  c: Contender,
  seconds: number,
  ensureServer: (restart?: boolean) => Promise<void>,
): Promise<RoundResult> {
  // Loaded RTT: 20 pings spread over the single-stream upload, starting once TCP ramped up.
  const interval = Math.max(0.2, Math.floor(((seconds - 1.5) / 20) * 10) / 10);
  const upP = iperf(net, c, [], seconds, ensureServer);
  await sleep(1000);
  const loadedP = pings(net, c.serverIp, 20, interval);
  const [up, loadedRttMs] = await Promise.all([upP, loadedP]);
  // Idle RTT once the tunnel has carried traffic: a JIT-compiled tunnel (Corridor) runs its first
  // packets in the interpreter, which is not the latency of a tunnel in use. Same order for everyone.
  await sleep(500);
  const idleRttMs = await pings(net, c.serverIp, 20, 0.2);
  const down = await iperf(net, c, ['-R'], seconds, ensureServer);
  const parallel = await iperf(net, c, ['-P', '4'], seconds, ensureServer);
  return { idleRttMs, loadedRttMs, runs: { up, down, parallel } };
}
