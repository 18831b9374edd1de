// The far end of the connection-rate test (runs in the web host's namespace): accepts, writes one
// byte, closes first (so TIME-WAIT stays on this side, not on the client's ports). Prints "ready".
import net from 'node:net';

const [host = '0.0.0.0', port = '7000'] = process.argv.slice(2);
const server = net.createServer((s) => {
  s.on('error', () => undefined);
  s.end('x');
});
server.maxConnections = 100_000;
server.listen({ host, port: Number(port), backlog: 4096 }, () => console.log('ready'));
