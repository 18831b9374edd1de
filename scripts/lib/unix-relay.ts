/**
 * Forwards every connection on a Unix socket to a TCP address, from inside a network namespace.
 * The demo runs it in the lab's controller namespace so that the admin dashboard, which listens only
 * inside the lab, is reachable on this machine's loopback: the demo (root namespace) accepts on
 * 127.0.0.1 and connects to this socket on the shared file system. No route or address joins the
 * namespaces. Bytes are passed through untouched (TLS stays end to end).
 *
 * usage: unix-relay.ts <socket path> <host> <port>     prints "relay ready" once listening
 */
import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';

const [sock, host, port] = process.argv.slice(2) as [string, string, string];
rmSync(sock, { force: true });
const server = net.createServer((client) => {
  const upstream = net.connect(Number(port), host);
  client.pipe(upstream).pipe(client);
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  for (const s of [client, upstream]) {
    s.on('error', end);
    s.on('close', end);
  }
});
server.listen(sock, () => {
  chmodSync(sock, 0o600); // only root (the demo) may connect
  process.stdout.write('relay ready\n');
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
