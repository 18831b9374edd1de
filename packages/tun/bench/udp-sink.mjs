// Kernel UDP endpoint for the write benchmark: binds <addr>:<port> and then deliberately does not read
// for <durationMs> (the event loop is parked in Atomics.wait). Every packet the benchmark writes into the
// TUN still goes through the kernel's IPv4 + UDP receive path to this socket, where the kernel counts it
// (Udp InDatagrams, or RcvbufErrors once the socket buffer is full) — without a userspace reader's
// wake-ups competing for the CPUs. Usage: node udp-sink.mjs addr port durationMs  (prints READY)
import { createSocket } from 'node:dgram';

const [addr = '198.18.30.1', port = '9999', durationMs = '6000'] = process.argv.slice(2);
const sock = createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
sock.bind(Number(port), addr, () => {
  process.stdout.write('READY\n', () => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(durationMs));
    sock.close();
  });
});
