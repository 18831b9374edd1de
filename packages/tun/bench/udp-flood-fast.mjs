// Fast kernel UDP sender for the read benchmark (sendmmsg in native/bench_flood.c; blocks this process).
// Usage: node udp-flood-fast.mjs addr port size durationMs   (prints SENT <n>)
import { createRequire } from 'node:module';

const [addr = '198.51.100.9', port = '9', size = '1400', durationMs = '5000'] = process.argv.slice(2);
const { floodUdp } = createRequire(import.meta.url)('../build/Release/corridor_tun_bench.node');
const sent = floodUdp(addr, Number(port), Number(size), Number(durationMs));
process.stdout.write(`SENT ${sent}\n`);
