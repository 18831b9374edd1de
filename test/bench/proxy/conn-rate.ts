/**
 * Connection setup rate, for bench:proxy: for `seconds`, `concurrency` workers each open a TCP
 * connection to host:port — directly (`direct`, through whatever routes the host has: the TUN of
 * `vpnctl connect`) or through a SOCKS5 proxy (`socks:<port>`, CONNECT by address) — send
 * `GET / HTTP/1.0`, read the whole answer and close; then the next. Prints one JSON line:
 * {"connections","errors","seconds","perSecond"}.
 * Usage: conn-rate.ts <direct|socks:PORT> <host> <port> <concurrency> <seconds>
 */
import net from 'node:net';

const [mode, host, portText, concText, secText] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const port = Number(portText);
const socksPort = mode.startsWith('socks:') ? Number(mode.slice(6)) : 0;

function once(): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socksPort || port, socksPort ? '127.0.0.1' : host);
    let stage = socksPort ? 0 : 2;
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => s.destroy(new Error('timeout')), 10_000);
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('connect', () => {
      if (socksPort) s.write(Buffer.from([5, 1, 0]));
      else s.write('GET / HTTP/1.0\r\n\r\n');
    });
    s.on('data', (d: Buffer) => {
      if (stage === 2) return;
      buf = Buffer.concat([buf, d]);
      if (stage === 0 && buf.length >= 2) {
        buf = buf.subarray(2);
        stage = 1;
        const p = Buffer.alloc(2);
        p.writeUInt16BE(port);
        s.write(Buffer.concat([Buffer.from([5, 1, 0, 1, ...host.split('.').map(Number)]), p]));
      }
      if (stage === 1 && buf.length >= 10) {
        if (buf[1] !== 0) return s.destroy(new Error(`SOCKS reply ${buf[1]}`));
        stage = 2;
        s.write('GET / HTTP/1.0\r\n\r\n');
      }
    });
    s.on('end', () => {
      clearTimeout(timer);
      s.end();
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const until = Date.now() + Number(secText) * 1000;
  let connections = 0;
  let errors = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: Number(concText) }, async () => {
      while (Date.now() < until) {
        try {
          await once();
          connections++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = (Date.now() - started) / 1000;
  console.log(JSON.stringify({ connections, errors, seconds, perSecond: connections / seconds }));
}

void main();
