// Connection rate from the client namespace: `concurrency` loops, each connects to host:port, waits for
// the server's byte and the close, and starts over, for `seconds`. Prints one JSON line:
// { completed, failed, perSecond, errors }.
import net from 'node:net';

const [host = '127.0.0.1', port = '7000', seconds = '5', concurrency = '64'] = process.argv.slice(2);
const until = performance.now() + Number(seconds) * 1000;
let completed = 0;
let failed = 0;
const errors: Record<string, number> = {};

function once(): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port: Number(port) });
    let got = false;
    const t = setTimeout(() => s.destroy(new Error('timeout')), 10_000);
    s.on('data', () => (got = true));
    s.on('error', (e: NodeJS.ErrnoException) => {
      errors[e.code ?? e.message] = (errors[e.code ?? e.message] ?? 0) + 1;
    });
    s.on('close', () => {
      clearTimeout(t);
      if (got) completed++;
      else failed++;
      resolve();
    });
  });
}

async function loop(): Promise<void> {
  while (performance.now() < until) await once();
}

const start = performance.now();
await Promise.all(Array.from({ length: Number(concurrency) }, loop));
const elapsed = (performance.now() - start) / 1000;
console.log(JSON.stringify({ completed, failed, perSecond: completed / elapsed, errors }));
