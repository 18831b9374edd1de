/**
 * Benchmark helper (a separate process, so the node's CPU figure excludes it): sends the given
 * datagrams round-robin to 127.0.0.1:FLOOD_PORT at FLOOD_PPS for FLOOD_SECONDS (or until SIGTERM)
 * through one batched UDP socket, then prints what it sent. Loopback only.
 */
import { DatagramSlab, UdpEndpoint, UdpSocket } from '@corridor/tun/udp';

const port = Number(process.env.FLOOD_PORT);
const pps = Number(process.env.FLOOD_PPS ?? 50000);
const seconds = Number(process.env.FLOOD_SECONDS ?? 5);
const messages = (JSON.parse(process.env.FLOOD_MESSAGES ?? '[]') as string[]).map((m) =>
  Buffer.from(m, 'base64'),
);
const sock = UdpSocket.open({ address: '127.0.0.1', gro: false, gso: false });
const to = UdpEndpoint.of('127.0.0.1', port);
const tickMs = 5;
const perTick = Math.ceil((pps * tickMs) / 1000);
const slab = new DatagramSlab({ capacity: perTick });
let sent = 0;
let k = 0;
const start = performance.now();
const finish = () => {
  clearInterval(timer);
  const elapsed = performance.now() - start;
  process.stdout.write(
    `${sent} packets in ${(elapsed / 1000).toFixed(1)} s = ${(sent / (elapsed / 1000)).toFixed(0)} pkt/s sent`,
  );
  void sock.close().then(() => process.exit(0));
};
// SIGTERM ends the flood early (the bench stops it once its clients are done), with the figure.
process.once('SIGTERM', finish);
const timer = setInterval(() => {
  const elapsed = performance.now() - start;
  if (elapsed >= seconds * 1000) {
    finish();
    return;
  }
  // Catch up to the target rate (timers are coarse under load).
  const due = Math.floor((elapsed / 1000) * pps) - sent;
  for (let left = Math.min(due, perTick * 20); left > 0;) {
    slab.clear();
    while (!slab.full && left > 0) {
      slab.pushCopy(messages[k++ % messages.length] as Buffer, to);
      left--;
    }
    sent += sock.sendSlab(slab);
  }
}, tickMs);
