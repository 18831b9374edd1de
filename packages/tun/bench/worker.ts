// One benchmark measurement, run by bench/tun.bench.ts inside its namespace, pinned to one CPU.
// Modes: read-ours | read-naive | write-ours | write-naive. Prints one `RESULT {json}` line and exits.
//
// read-*:  a kernel UDP sender (bench/udp-flood-fast.mjs, sendmmsg; another process on the other CPU) floods
//          1400-byte datagrams to an address routed into the TUN; we count packets that reach JS.
// write-*: we write 1400-byte IPv4/UDP packets addressed to the TUN's own address and a port bound by a
//          UDP socket in another process (bench/udp-sink.mjs); the kernel counts them twice: the
//          interface's rx_packets and the namespace's UDP receive counters.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs';
import { openTun } from '../src/index.js';
import { addAddress, addRoute, setMtu, setTxQueueLen, setUp } from '../src/ip-config.js';
import { loadNative } from '../src/native.js';
import { writeIpv4Udp } from '../src/testing/packets.js';

const [mode = 'read-ours', durationArg = '5000', senderCpu = '1'] = process.argv.slice(2);
const DURATION_MS = Number(durationArg);
const WARMUP_MS = 500;
const PACKET = 1400;
const NAME = 'crbench0';
const TUN_ADDR = '198.18.30.1';
const PEER = '198.18.30.2';
const FLOOD_DST = '198.51.100.9';
const RX_PORT = 9999;
const TXQLEN = Number(process.env.CORRIDOR_BENCH_TXQLEN ?? 4096);
const BENCH = new URL('./', import.meta.url).pathname;

function result(value: Record<string, unknown>): never {
  process.stdout.write(`RESULT ${JSON.stringify(value)}\n`);
  process.exit(0); // the naive reader may have a blocking read parked in the thread pool
}

async function configure(name: string): Promise<void> {
  setMtu(name, 1500);
  // The kernel's queue for the reader (same for ours and naive): packets beyond it are dropped while the
  // reader is preempted. 4096 = ~8 ms at 500k/s; CORRIDOR_BENCH_TXQLEN overrides it.
  setTxQueueLen(name, TXQLEN);
  await addAddress(name, `${TUN_ADDR}/24`);
  setUp(name, true);
  await addRoute(name, '198.51.100.0/24');
}

/** The namespace's kernel UDP counters: datagrams delivered to a socket + dropped at a full socket buffer. */
function udpReceived(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const [names, values] = lines.map((l) => l.trim().split(/\s+/));
  const get = (k: string): number => Number(values?.[names?.indexOf(k) ?? -1] ?? 0);
  return get('InDatagrams') + get('RcvbufErrors');
}

function sysfsCounter(name: string, counter: string): number {
  return Number(readFileSync(`/sys/class/net/${name}/statistics/${counter}`, 'utf8'));
}

/** The TUN's tx side: packets the kernel queued for the reader, and those dropped with the queue full. */
function kernelTxSamplers(name: string): Record<string, () => number> {
  return {
    kernelTx: () => sysfsCounter(name, 'tx_packets'),
    kernelTxDropped: () => sysfsCounter(name, 'tx_dropped'),
  };
}

function pinned(script: string, args: string[]): ChildProcess {
  return spawn('taskset', ['-c', senderCpu, process.execPath, script, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

function lineFrom(child: ChildProcess, prefix: string): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith(prefix));
      if (line) resolve(line.slice(prefix.length).trim());
    });
    child.on('close', () => resolve(''));
  });
}

/**
 * Counts over the window [WARMUP, WARMUP + DURATION): `packets` from the main sampler, and the same
 * window's delta for every extra sampler (e.g. the kernel's counter for cross-checking).
 */
function measure(
  total: () => number,
  extra: Record<string, () => number> = {},
): Promise<{ packets: number; seconds: number } & Record<string, number>> {
  return new Promise((resolve) => {
    setTimeout(() => {
      const start = total();
      const extraStart = Object.fromEntries(Object.entries(extra).map(([k, f]) => [k, f()]));
      const t0 = process.hrtime.bigint();
      const cpu0 = process.cpuUsage();
      setTimeout(() => {
        const packets = total() - start;
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        // CPU time of this (TUN-side) process in the window, user + kernel (syscalls, copies), all threads.
        const cpu = process.cpuUsage(cpu0);
        const deltas = Object.fromEntries(
          Object.entries(extra).map(([k, f]) => [k, f() - (extraStart[k] as number)]),
        );
        resolve({ packets, seconds, cpuUserUs: cpu.user, cpuSystemUs: cpu.system, ...deltas });
      }, DURATION_MS);
    }, WARMUP_MS);
  });
}

async function readOurs(): Promise<void> {
  const tun = openTun({ name: NAME, batchSize: 64 });
  await configure(tun.name);
  let packets = 0;
  let bytes = 0;
  tun.onPackets((batch) => {
    packets += batch.count;
    for (let i = 0; i < batch.count; i++) bytes += batch.length(i); // touch the metadata like a consumer
  });
  const sender = pinned(`${BENCH}udp-flood-fast.mjs`, [
    FLOOD_DST,
    '9',
    String(PACKET),
    String(WARMUP_MS + DURATION_MS + 500),
  ]);
  const sent = lineFrom(sender, 'SENT');
  const m = await measure(() => packets, kernelTxSamplers(tun.name));
  const s = tun.stats();
  const sentTotal = Number(await sent);
  await tun.close();
  result({ mode, ...m, avgBatch: s.rxPackets / s.rxBatches, senderTotal: sentTotal, bytes });
}

async function readNaive(): Promise<void> {
  // The naive way: the addon only creates the device (blocking fd); reads go through fs.read, i.e. one
  // libuv thread-pool round trip per packet, one read in flight, a fresh callback each time.
  const native = loadNative();
  const [fd, name] = native.open(NAME, false, false);
  await configure(name);
  let packets = 0;
  const buf = Buffer.allocUnsafe(65535);
  const loop = (): void => {
    fs.read(fd, buf, 0, buf.length, null, (err, n) => {
      if (err) return;
      if (n > 0) packets++;
      loop();
    });
  };
  loop();
  const sender = pinned(`${BENCH}udp-flood-fast.mjs`, [
    FLOOD_DST,
    '9',
    String(PACKET),
    String(WARMUP_MS + DURATION_MS + 500),
  ]);
  const sent = lineFrom(sender, 'SENT');
  const m = await measure(() => packets, kernelTxSamplers(name));
  result({ mode, ...m, senderTotal: Number(await sent) });
}

/** 64 distinct 1400-byte IPv4/UDP packets PEER:4444 -> TUN_ADDR:RX_PORT laid back to back in one slab. */
function packetSlab(count: number): { slab: Uint8Array; lengths: Uint32Array } {
  const slab = new Uint8Array(count * PACKET);
  const payload = new Uint8Array(PACKET - 28).fill(0x62);
  for (let i = 0; i < count; i++) {
    writeIpv4Udp(slab, i * PACKET, {
      src: PEER,
      dst: TUN_ADDR,
      srcPort: 4444,
      dstPort: RX_PORT,
      payload,
      id: i,
    });
  }
  return { slab, lengths: new Uint32Array(count).fill(PACKET) };
}

async function startSink(): Promise<ChildProcess> {
  const child = pinned(`${BENCH}udp-sink.mjs`, [
    TUN_ADDR,
    String(RX_PORT),
    String(WARMUP_MS + DURATION_MS + 800),
  ]);
  await lineFrom(child, 'READY');
  return child;
}

async function writeOurs(): Promise<void> {
  const tun = openTun({ name: NAME });
  await configure(tun.name);
  const sink = await startSink();
  const { slab, lengths } = packetSlab(64);
  let written = 0;
  let running = true;
  const pump = (): void => {
    if (!running) return;
    // ~64 KiB... a few slabs per turn, then yield so timers fire.
    for (let k = 0; k < 16; k++) written += tun.writeSlab(slab, lengths, 64);
    setImmediate(pump);
  };
  pump();
  const m = await measure(() => written, {
    kernelRx: () => sysfsCounter(tun.name, 'rx_packets'),
    udp: udpReceived,
  });
  running = false;
  const s = tun.stats();
  sink.kill();
  await tun.close();
  result({ mode, ...m, dropped: s.txDropped });
}

async function writeNaive(): Promise<void> {
  const native = loadNative();
  const [fd, name] = native.open(NAME, false, false);
  await configure(name);
  const sink = await startSink();
  const { slab } = packetSlab(64);
  const packets = Array.from({ length: 64 }, (_, i) => slab.subarray(i * PACKET, (i + 1) * PACKET));
  let written = 0;
  let running = true;
  const loop = (i: number): void => {
    if (!running) return;
    fs.write(fd, packets[i % 64] as Uint8Array, (err) => {
      if (!err) written++;
      loop(i + 1);
    });
  };
  loop(0);
  const m = await measure(() => written, {
    kernelRx: () => sysfsCounter(name, 'rx_packets'),
    udp: udpReceived,
  });
  running = false;
  sink.kill();
  result({ mode, ...m });
}

const modes: Record<string, () => Promise<void>> = {
  'read-ours': readOurs,
  'read-naive': readNaive,
  'write-ours': writeOurs,
  'write-naive': writeNaive,
};
const run = modes[mode];
if (!run) result({ mode, error: `unknown mode ${mode}` });
else run().catch((err: unknown) => result({ mode, error: String((err as Error)?.stack ?? err) }));
