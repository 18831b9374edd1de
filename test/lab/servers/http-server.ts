// The lab's web hosts ("the internet"), run inside a web host's namespace by the lab. One HTTP
// server on port 80, IPv4 and IPv6, in one of two modes:
//   echo  answers with the source address it sees: the thing the end-to-end tests look at.
//   geo   region-locked content: the same answers for source addresses inside the allowed region's
//         prefixes, 403 for everyone else (a geo-IP check as a streaming site does it).
// Routes (both modes, geo only after its check):
//   GET  /            "<source address>\n"
//   GET  /json        {"remote","family","port","method","path","host","server","mode"}
//   GET  /bytes/<n>   n bytes (n <= 1 GiB) of a repeating pattern, for transfers and throughput
//   POST|PUT <any>    the request body echoed back (<= 64 MiB, else 413)
// Protocol with the lab: argv[2] = JSON config {name, mode, port, allow?: {label, prefixes}};
// stdout = JSON lines: {"event":"listening"} once, {"event":"request",...} per answered request.
// SIGTERM/SIGINT close the server and exit 0. Output errors (the parent is gone) are ignored.
import http from 'node:http';
import net from 'node:net';

interface Config {
  name: string;
  mode: 'echo' | 'geo';
  port: number;
  allow?: { label: string; prefixes: string[] };
}

const MAX_BYTES = 1 << 30;
const MAX_ECHO = 64 * 1024 * 1024;
const config = JSON.parse(process.argv[2] ?? '{}') as Config;

const allowList = new net.BlockList();
for (const p of config.allow?.prefixes ?? []) {
  const [addr = '', len = ''] = p.split('/');
  allowList.addSubnet(addr, Number(len), net.isIPv6(addr) ? 'ipv6' : 'ipv4');
}

process.stdout.on('error', () => undefined);
function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function plainAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

const PATTERN = Buffer.alloc(64 * 1024, 'corridor-lab-0123456789abcdef\n');

function send(
  res: http.ServerResponse,
  status: number,
  body: string | Buffer,
  type = 'text/plain; charset=utf-8',
): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'x-corridor-server': config.name,
  });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const remote = plainAddress(req.socket.remoteAddress ?? '');
  const family = net.isIPv6(remote) ? 'ipv6' : 'ipv4';
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  res.on('finish', () =>
    emit({
      event: 'request',
      from: remote,
      port: req.socket.remotePort,
      method: req.method,
      path,
      status: res.statusCode,
    }),
  );
  if (config.mode === 'geo' && !allowList.check(remote, family)) {
    req.resume();
    send(res, 403, `forbidden: ${remote} is not in region ${config.allow?.label ?? '?'}\n`);
    return;
  }
  if (config.mode === 'geo') res.setHeader('x-corridor-region', config.allow?.label ?? '');

  if (req.method === 'POST' || req.method === 'PUT') {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size <= MAX_ECHO) chunks.push(d);
    });
    req.on('end', () =>
      size > MAX_ECHO
        ? send(res, 413, `body over ${MAX_ECHO} bytes\n`)
        : send(res, 200, Buffer.concat(chunks), 'application/octet-stream'),
    );
    return;
  }
  req.resume();
  if (path === '/') return send(res, 200, `${remote}\n`);
  if (path === '/json') {
    const body = JSON.stringify({
      remote,
      family,
      port: req.socket.remotePort,
      method: req.method,
      path,
      host: req.headers.host ?? null,
      server: config.name,
      mode: config.mode,
    });
    return send(res, 200, `${body}\n`, 'application/json');
  }
  const bytes = /^\/bytes\/(\d{1,10})$/.exec(path);
  if (bytes) {
    const n = Number(bytes[1]);
    if (n > MAX_BYTES) return send(res, 400, `at most ${MAX_BYTES} bytes\n`);
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': n,
      'x-corridor-server': config.name,
    });
    let left = n;
    const pump = () => {
      while (left > 0) {
        const chunk = PATTERN.subarray(0, Math.min(left, PATTERN.length));
        left -= chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
    return;
  }
  send(res, 404, `no route ${path}\n`);
});

server.on('error', (e) => {
  emit({ event: 'error', message: e.message });
  process.exit(1);
});
server.listen({ port: config.port, host: '::', ipv6Only: false }, () =>
  emit({ event: 'listening', port: config.port, mode: config.mode }),
);

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
