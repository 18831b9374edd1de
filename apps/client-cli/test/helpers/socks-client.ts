/**
 * A tiny SOCKS5 / HTTP-proxy client for tests (raw bytes over node:net, so the tests see exactly
 * what the proxy answers).
 */
import dgram from 'node:dgram';
import net from 'node:net';

export class ByteReader {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  ended = false;
  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (const w of this.waiters.splice(0)) w();
    });
    const end = () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w();
    };
    sock.on('end', end);
    sock.on('close', end);
    sock.on('error', () => undefined);
  }
  async read(n: number, timeoutMs = 10_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length < n) {
      if (this.ended) throw new Error(`connection ended after ${this.buf.length} of ${n} bytes`);
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${n} bytes (have ${this.buf.length})`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Everything until the peer closes. */
  async rest(timeoutMs = 20_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('timeout waiting for the end');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    const out = this.buf;
    this.buf = Buffer.alloc(0);
    return out;
  }
}

export async function open(port: number, host = '127.0.0.1'): Promise<{ sock: net.Socket; r: ByteReader }> {
  const sock = net.connect(port, host);
  const r = new ByteReader(sock);
  await new Promise<void>((res, rej) => {
    sock.once('connect', res);
    sock.once('error', rej);
  });
  return { sock, r };
}

export function socksAddress(host: string, port: number): Buffer {
  let a: Buffer;
  if (net.isIPv4(host)) a = Buffer.from([1, ...host.split('.').map(Number)]);
  else a = Buffer.concat([Buffer.from([3, host.length]), Buffer.from(host, 'latin1')]);
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port);
  return Buffer.concat([a, p]);
}

/** Greeting (+ auth) + request; returns the reply code and the socket. */
export async function socksRequest(
  proxyPort: number,
  cmd: number,
  host: string,
  port: number,
  auth?: { user: string; pass: string },
): Promise<{ sock: net.Socket; r: ByteReader; rep: number; bound: { host: string; port: number } }> {
  const { sock, r } = await open(proxyPort);
  sock.write(Buffer.from(auth ? [5, 1, 2] : [5, 1, 0]));
  const sel = await r.read(2);
  if (sel[1] === 0xff) return { sock, r, rep: -1, bound: { host: '', port: 0 } };
  if (auth) {
    sock.write(
      Buffer.concat([
        Buffer.from([1, auth.user.length]),
        Buffer.from(auth.user),
        Buffer.from([auth.pass.length]),
        Buffer.from(auth.pass),
      ]),
    );
    const st = await r.read(2);
    if (st[1] !== 0) return { sock, r, rep: -2, bound: { host: '', port: 0 } };
  }
  sock.write(Buffer.concat([Buffer.from([5, cmd, 0]), socksAddress(host, port)]));
  const head = await r.read(4);
  let host2 = '';
  if (head[3] === 1) host2 = [...(await r.read(4))].join('.');
  else if (head[3] === 4) host2 = (await r.read(16)).toString('hex');
  const bp = (await r.read(2)).readUInt16BE(0);
  return { sock, r, rep: head[1]!, bound: { host: host2, port: bp } };
}

/** One SOCKS5 UDP datagram through an association; resolves with the answer (header stripped). */
export async function socksUdp(
  relay: { host: string; port: number },
  dest: { host: string; port: number },
  payload: Buffer,
): Promise<{ from: string; port: number; data: Buffer }> {
  const u = dgram.createSocket('udp4');
  await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
  try {
    const answer = new Promise<Buffer>((resolve, reject) => {
      u.once('message', resolve);
      setTimeout(() => reject(new Error('no UDP answer')), 5_000);
    });
    u.send(
      Buffer.concat([Buffer.from([0, 0, 0]), socksAddress(dest.host, dest.port), payload]),
      relay.port,
      relay.host,
    );
    const m = await answer;
    if (m[3] !== 1) throw new Error(`unexpected ATYP ${m[3]}`);
    return { from: [...m.subarray(4, 8)].join('.'), port: m.readUInt16BE(8), data: m.subarray(10) };
  } finally {
    u.close();
  }
}
