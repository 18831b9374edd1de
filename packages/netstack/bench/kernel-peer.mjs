// The kernel side of the netstack benchmark: ordinary node:net sockets (the Linux TCP stack), run as
// a separate process pinned to its own CPU. Plain JavaScript for a fast start. Prints one
// `PEER {json}` line per result; `PORT n` when a server listens.
import net from 'node:net';

const [mode, host, portArg, ...rest] = process.argv.slice(2);
const port = Number(portArg ?? 0);
const out = (o) => process.stdout.write(`PEER ${JSON.stringify(o)}\n`);
const CHUNK = Buffer.alloc(1 << 20, 0x5a);

function listen(onConn) {
  const srv = net.createServer(onConn);
  srv.listen(port, host, () => process.stdout.write(`PORT ${srv.address().port}\n`));
  return srv;
}

switch (mode) {
  // Accept connections and discard everything; report bytes and seconds per connection.
  case 'sink': {
    listen((s) => {
      let n = 0;
      let t0 = 0;
      s.on('data', (d) => {
        if (n === 0) t0 = performance.now();
        n += d.length;
      });
      s.on('end', () => {
        out({ bytes: n, seconds: (performance.now() - t0) / 1000 });
        s.end();
      });
      s.on('error', () => undefined);
    });
    break;
  }
  // Connect and send `bytes` as fast as the socket takes them.
  case 'source': {
    const total = Number(rest[0]);
    const s = net.connect({ host, port }, () => {
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          const n = Math.min(CHUNK.length, total - sent);
          sent += n;
          if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return;
        }
        s.end();
      };
      s.on('drain', pump);
      pump();
    });
    s.resume();
    s.on('close', () => out({ sent: total }));
    break;
  }
  // Serve each connection one byte and close (the peer of our connect-rate run).
  case 'accept-server': {
    listen((s) => {
      s.on('error', () => undefined);
      s.end('x');
      s.resume();
    });
    break;
  }
  // Open connections in a loop, `parallel` at a time, for `seconds`: connect, read one byte, close.
  case 'connect-rate': {
    const seconds = Number(rest[0]);
    const parallel = Number(rest[1] ?? 64);
    const until = performance.now() + seconds * 1000;
    let done = 0;
    let failed = 0;
    let running = 0;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const one = () => {
      if (performance.now() >= until) {
        if (--running === 0) {
          const c = process.cpuUsage(c0);
          out({ done, failed, seconds: (performance.now() - t0) / 1000, peerCpu: (c.user + c.system) / 1e6 });
        }
        return;
      }
      const s = net.connect({ host, port });
      s.on('error', () => {
        failed++;
      });
      s.on('data', () => undefined);
      s.on('close', (hadError) => {
        if (!hadError) done++;
        one();
      });
    };
    for (let i = 0; i < parallel; i++) {
      running++;
      one();
    }
    break;
  }
  // `count` connections that each send `bytes` and read them back, all at once.
  case 'echo-clients': {
    const count = Number(rest[0]);
    const bytes = Number(rest[1]);
    const payload = Buffer.alloc(bytes, 0x33);
    let left = count;
    let ok = 0;
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const s = net.connect({ host, port });
      let got = 0;
      s.on('data', (d) => (got += d.length));
      s.on('error', () => undefined);
      s.on('close', () => {
        if (got === bytes) ok++;
        if (--left === 0) out({ ok, count, seconds: (performance.now() - t0) / 1000 });
      });
      s.end(payload);
    }
    break;
  }
  // Open `count` connections and keep them idle until stdin closes.
  case 'idle-clients': {
    const count = Number(rest[0]);
    let open = 0;
    const socks = [];
    const next = (i) => {
      if (i >= count) return;
      const s = net.connect({ host, port }, () => {
        open++;
        if (open === count) out({ open });
        next(i + 64);
      });
      s.on('error', (e) => out({ error: String(e) }));
      socks.push(s);
    };
    for (let i = 0; i < 64; i++) next(i);
    process.stdin.on('end', () => {
      for (const s of socks) s.destroy();
      process.exit(0);
    });
    process.stdin.resume();
    break;
  }
  default:
    console.error(`unknown mode ${mode}`);
    process.exit(2);
}
