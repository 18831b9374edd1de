// Our side of the netstack benchmark: a Netstack behind a real TUN (test/tun-bridge.ts) in the
// benchmark's namespace, pinned by the driver to one CPU; the kernel peer (bench/kernel-peer.mjs) is
// spawned pinned to another. Prints one `RESULT {json}` line.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TcpSocket } from '../src/index.js';
import { TunBridge } from '../test/tun-bridge.js';

const KERNEL = '198.18.40.1';
const OURS = '198.18.40.2';
const PEER = fileURLToPath(new URL('./kernel-peer.mjs', import.meta.url));
const peerCpu = process.env.CORRIDOR_BENCH_PEER_CPU ?? '1';

function result(v: Record<string, unknown>): void {
  process.stdout.write(`RESULT ${JSON.stringify(v)}\n`);
}

interface Peer {
  child: ChildProcess;
  port: Promise<number>;
  results: Promise<Record<string, unknown>>[];
  next(): Promise<Record<string, unknown>>;
}

function peer(args: string[]): Peer {
  const child = spawn('taskset', ['-c', peerCpu, process.execPath, PEER, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let buf = '';
  let portResolve!: (n: number) => void;
  const port = new Promise<number>((r) => (portResolve = r));
  const waiting: ((v: Record<string, unknown>) => void)[] = [];
  const queued: Record<string, unknown>[] = [];
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('PORT ')) portResolve(Number(line.slice(5)));
      else if (line.startsWith('PEER ')) {
        const v = JSON.parse(line.slice(5)) as Record<string, unknown>;
        const w = waiting.shift();
        if (w) w(v);
        else queued.push(v);
      }
    }
  });
  return {
    child,
    port,
    results: [],
    next: () => {
      const q = queued.shift();
      if (q) return Promise.resolve(q);
      return new Promise((r) => waiting.push(r));
    },
  };
}

const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const mode = process.argv[2] ?? '';
const arg = (i: number, d: number): number => Number(process.argv[3 + i] ?? d);
const mtu = Number(process.env.CORRIDOR_BENCH_MTU ?? 1500);

const b = await TunBridge.open({
  tunName: `crb${Math.floor(Math.random() * 1e6).toString(36)}`,
  kernelCidrs: [`${KERNEL}/24`],
  addresses: [OURS],
  mtu,
  batchSize: 256,
  txQueueLen: 10000,
  tcp: { recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 },
  limits: { maxConnections: 100_000 },
});
const ns = b.netstack;

async function main(): Promise<void> {
  switch (mode) {
    // Kernel -> us: one connection, `bytes` long; we discard.
    case 'up': {
      const bytes = arg(0, 1 << 30);
      const got = new Promise<{ seconds: number; cpu: number; bytes: number }>((resolve) => {
        ns.listen({ port: 5001 }, (s: TcpSocket) => {
          let n = 0;
          let t0 = 0;
          let c0 = 0;
          s.on('data', (d: Buffer) => {
            if (n === 0) {
              t0 = performance.now();
              c0 = cpu();
            }
            n += d.length;
          });
          s.on('end', () => resolve({ seconds: (performance.now() - t0) / 1000, cpu: cpu() - c0, bytes: n }));
        });
      });
      const p = peer(['source', OURS, '5001', String(bytes)]);
      const r = await got;
      p.child.kill();
      result({ ...r, stats: ns.stats().tcp });
      return;
    }
    // Us -> kernel: one connection, `bytes` long; the kernel discards.
    case 'down': {
      const bytes = arg(0, 1 << 30);
      const p = peer(['sink', KERNEL, '0']);
      const port = await p.port;
      const chunk = Buffer.alloc(1 << 20, 0xa5);
      const s = ns.connect({ host: KERNEL, port });
      s.on('error', () => undefined);
      s.resume();
      await new Promise((r) => s.once('connect', r));
      const t0 = performance.now();
      const c0 = cpu();
      let sent = 0;
      await new Promise<void>((resolve) => {
        const pump = (): void => {
          while (sent < bytes) {
            const n = Math.min(chunk.length, bytes - sent);
            sent += n;
            if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return;
          }
          s.end();
          resolve();
        };
        s.on('drain', pump);
        pump();
      });
      const r = await p.next();
      const seconds = (performance.now() - t0) / 1000;
      const c = cpu() - c0;
      p.child.kill();
      result({ seconds, cpu: c, bytes: r.bytes, kernelSeconds: r.seconds, stats: ns.stats().tcp });
      return;
    }
    // `count` concurrent kernel connections to our echo listener, `bytes` each way.
    case 'flows': {
      const count = arg(0, 1000);
      const bytes = arg(1, 65536);
      ns.listen({ port: 7 }, (s: TcpSocket) => s.pipe(s));
      const c0 = cpu();
      const p = peer(['echo-clients', OURS, '7', String(count), String(bytes)]);
      const r = await p.next();
      const c = cpu() - c0;
      p.child.kill();
      result({ ...r, cpu: c, bytes: 2 * count * bytes, stats: ns.stats().tcp });
      return;
    }
    // Kernel clients connect to us in a loop (accept rate).
    case 'accept-rate': {
      const seconds = arg(0, 3);
      const parallel = arg(1, 64);
      ns.listen({ port: 80 }, (s: TcpSocket) => {
        s.on('error', () => undefined);
        s.resume();
        s.end('x');
      });
      const c0 = cpu();
      const p = peer(['connect-rate', OURS, '80', String(seconds), String(parallel)]);
      const r = await p.next();
      const c = cpu() - c0;
      p.child.kill();
      result({ ...r, cpu: c, stats: ns.stats().tcp, connections: ns.stack.connectionCount });
      return;
    }
    // We connect to a kernel server in a loop (connect rate).
    case 'connect-rate': {
      const seconds = arg(0, 3);
      const parallel = arg(1, 64);
      const p = peer(['accept-server', KERNEL, '0']);
      const port = await p.port;
      const until = performance.now() + seconds * 1000;
      let done = 0;
      let failed = 0;
      const t0 = performance.now();
      const c0 = cpu();
      await new Promise<void>((resolve) => {
        let running = 0;
        const one = (): void => {
          if (performance.now() >= until) {
            if (--running === 0) resolve();
            return;
          }
          const s = ns.connect({ host: KERNEL, port });
          let ok = false;
          s.on('data', () => (ok = true));
          s.on('error', () => undefined);
          s.on('close', () => {
            if (ok) done++;
            else failed++;
            one();
          });
          s.end();
        };
        for (let i = 0; i < parallel; i++) {
          running++;
          one();
        }
      });
      const seconds2 = (performance.now() - t0) / 1000;
      const c = cpu() - c0;
      p.child.kill();
      result({
        done,
        failed,
        seconds: seconds2,
        cpu: c,
        stats: ns.stats().tcp,
        connections: ns.stack.connectionCount,
      });
      return;
    }
    // Memory per idle connection: heap + external before and after `count` idle kernel connections.
    case 'idle': {
      const count = arg(0, 5000);
      const socks: TcpSocket[] = [];
      ns.listen({ port: 9 }, (s: TcpSocket) => {
        s.on('error', () => undefined); // the stack is closed under them at the end
        socks.push(s);
      });
      const gc = (globalThis as { gc?: () => void }).gc;
      const mem = (): number => {
        gc?.();
        gc?.();
        const m = process.memoryUsage();
        return m.heapUsed + m.external + m.arrayBuffers;
      };
      // Warm up the code paths first so compiled code is not counted as per-connection memory.
      const before = mem();
      const p = peer(['idle-clients', OURS, '9', String(count)]);
      const r = await p.next();
      while (socks.length < count) await new Promise((res) => setTimeout(res, 20));
      await new Promise((res) => setTimeout(res, 300));
      const after = mem();
      const st = ns.stats();
      result({
        open: r.open,
        accepted: socks.length,
        bytesPerConnection: (after - before) / count,
        bufferBytes: st.bufferBytes,
        gcExposed: gc !== undefined,
      });
      p.child.stdin?.end();
      return;
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

main().then(
  async () => {
    await b.close();
    process.exit(0);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
