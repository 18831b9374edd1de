/**
 * Protocol benchmark (`pnpm bench:protocol`). One run prints:
 *  1. handshakes/s: full IK, initiation + response on both sides, with mac1 checks (tunnel API);
 *  2. transport packets/s and Gbit/s for 1400-byte packets, InitiatorTunnel.encapsulate ->
 *     ResponderTunnel.decapsulate, in place in one preallocated buffer;
 *  3. the reference: raw sodium-native ChaCha20-Poly1305 IETF encrypt + decrypt of the same buffers;
 *  4. the ratio protocol / raw (goal >= 0.85);
 *  5. the transport AEAD's backends side by side (src/crypto/aead.ts): sodium-native, the addon on
 *     OpenSSL's EVP API and the addon on OpenSSL's ChaCha20/Poly1305 internals (the default when present).
 * Each measurement warms up, then runs for MEASURE_MS. Not part of `pnpm test`.
 */
import sodiumNative from 'sodium-native';
import {
  DATA_HEADER_BYTES,
  DATA_TRAILER_BYTES,
  generateX25519KeyPair,
  InitiatorTunnel,
  ResponderTunnel,
  type TunnelParams,
} from '../src/index.js';
import { exampleTunnelParams, ipv4Packet } from '../src/testing/index.js';
import { AEAD_BACKEND, aeadBackends, type AeadImpl } from '../src/crypto/aead.js';

const WARMUP_MS = 700;
const MEASURE_MS = Number(process.env.BENCH_MS ?? 3000);
const PACKET_BYTES = 1400;
const BATCH = 256;

interface RawAead {
  crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
}
const sodium = sodiumNative as unknown as RawAead;

const PARAMS: TunnelParams = exampleTunnelParams();
const SOURCE = { ip: '192.0.2.1', port: 51820 };

interface Rate {
  /** Operations per wall-clock second. */
  readonly wall: number;
  /** Operations per second of this process's CPU time (user + system): insensitive to other load. */
  readonly cpu: number;
}

/** Runs `batch` (which does `batchSize` operations) until `ms` of wall time elapsed. */
function measure(batch: () => void, batchSize: number, ms: number): Rate {
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let ops = 0;
  let now = start;
  while (now - start < ms) {
    batch();
    ops += batchSize;
    now = performance.now();
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { wall: (ops * 1000) / (now - start), cpu: (ops * 1000) / Math.max(cpuMs, 1e-3) };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const medianRate = (xs: Rate[]): Rate => ({
  wall: median(xs.map((x) => x.wall)),
  cpu: median(xs.map((x) => x.cpu)),
});

/** Warmup, then the median rate of several slices (robust against other load on a shared box). */
function run(batch: () => void, batchSize: number, slices = 5): Rate {
  measure(batch, batchSize, WARMUP_MS);
  const rates: Rate[] = [];
  for (let i = 0; i < slices; i++) rates.push(measure(batch, batchSize, MEASURE_MS / slices));
  return medianRate(rates);
}

function makePair(): { client: InitiatorTunnel; node: ResponderTunnel; clock: { now: number } } {
  const clock = { now: 1_000 };
  const nodeKeys = generateX25519KeyPair();
  const client = new InitiatorTunnel({
    staticKeys: generateX25519KeyPair(),
    nodeStaticPublicKey: nodeKeys.publicKey,
    ticket: Buffer.alloc(180, 7),
    clock: () => clock.now,
  });
  const node = new ResponderTunnel({
    staticKeys: nodeKeys,
    clock: () => clock.now,
    authorize: () => ({ ok: true, params: PARAMS }),
    rateLimiter: { packetsPerSecond: 1e12, burst: 1e12 },
    // One client handshakes back to back on a frozen clock: lift the per-client-key limit.
    clientKeyLimiter: { initiationsPerSecond: 1e12, burst: 1e12 },
  });
  node.underLoadOverride = false;
  return { client, node, clock };
}

function benchHandshakes(): Rate {
  const { client, node } = makePair();
  const out = Buffer.alloc(2048);
  return run(() => {
    const init = client.connect();
    if (init.type !== 'writeToNetwork') throw new Error(`initiation: ${JSON.stringify(init)}`);
    const resp = node.decapsulate(init.data, SOURCE, out);
    if (resp.type !== 'writeToNetwork') throw new Error(`response: ${JSON.stringify(resp)}`);
    const done = client.decapsulate(resp.data, out);
    if (done.type !== 'handshakeComplete') throw new Error(`complete: ${JSON.stringify(done)}`);
  }, 1);
}

/** Builds the in-place transport loop over a handshaken tunnel pair; returns [batch, batchSize]. */
function transportBatch(): () => void {
  const { client, node, clock } = makePair();
  const out = Buffer.alloc(2048);
  const init = client.connect();
  if (init.type !== 'writeToNetwork') throw new Error('initiation');
  const resp = node.decapsulate(init.data, SOURCE, out);
  if (resp.type !== 'writeToNetwork') throw new Error('response');
  const done = client.decapsulate(resp.data, out);
  if (done.type !== 'handshakeComplete') throw new Error('complete');
  if (node.decapsulate(done.data, SOURCE, out).type !== 'done') throw new Error('confirm');
  // One pooled buffer: header room, packet, tag room. Encrypt in place, decrypt in place.
  const buf = Buffer.alloc(DATA_HEADER_BYTES + PACKET_BYTES + DATA_TRAILER_BYTES);
  const packet = buf.subarray(DATA_HEADER_BYTES, DATA_HEADER_BYTES + PACKET_BYTES);
  // An IPv4 packet from the client's assigned address: the node checks the inner source of each one.
  // Decryption in place restores these bytes, so every iteration seals the same valid packet.
  packet.set(ipv4Packet(PARAMS.clientIPv4, '198.51.100.80', Buffer.alloc(PACKET_BYTES - 20, 0x5a)));
  const plainOut = buf.subarray(DATA_HEADER_BYTES);
  return () => {
    // The caller's timer loop owns the clock: one reading per batch, as an agent would do.
    const now = clock.now;
    for (let i = 0; i < BATCH; i++) {
      const sealed = client.encapsulate(packet, buf, now);
      if (sealed.type !== 'writeToNetwork') throw new Error(`seal: ${JSON.stringify(sealed)}`);
      const opened = node.decapsulate(buf, SOURCE, plainOut, now);
      if (opened.type !== 'writeToTun') throw new Error(`open: ${JSON.stringify(opened)}`);
    }
  };
}

/** The reference: the same buffers through raw sodium-native, nonce prepared like the protocol's. */
function rawBatch(): () => void {
  const key = Buffer.alloc(32, 9);
  const nonce = Buffer.alloc(12);
  const buf = Buffer.alloc(DATA_HEADER_BYTES + PACKET_BYTES + DATA_TRAILER_BYTES);
  const m = buf.subarray(DATA_HEADER_BYTES, DATA_HEADER_BYTES + PACKET_BYTES);
  const c = buf.subarray(DATA_HEADER_BYTES);
  let counter = 0;
  return () => {
    for (let i = 0; i < BATCH; i++) {
      nonce.writeUInt32LE(counter++, 4);
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt(c, m, null, null, nonce, key);
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt(m, null, c, null, nonce, key);
    }
  };
}

/**
 * Interleaves raw and protocol slices so both see the same machine load (the CI box is shared),
 * and reports the median slice rate of each.
 */
function benchTransportVsRaw(): { proto: Rate; raw: Rate } {
  const proto = transportBatch();
  const raw = rawBatch();
  measure(proto, BATCH, WARMUP_MS);
  measure(raw, BATCH, WARMUP_MS);
  const slices = 10;
  const p: Rate[] = [];
  const r: Rate[] = [];
  for (let i = 0; i < slices; i++) {
    r.push(measure(raw, BATCH, MEASURE_MS / slices));
    p.push(measure(proto, BATCH, MEASURE_MS / slices));
  }
  return { proto: medianRate(p), raw: medianRate(r) };
}

const gbit = (pps: number): number => (pps * PACKET_BYTES * 8) / 1e9;

console.log(`corridor protocol bench (node ${process.version}, ${MEASURE_MS} ms per measurement)`);
const hs = benchHandshakes();
console.log(
  `handshakes/s (IK initiation+response, both sides, mac1): ${hs.wall.toFixed(0)} (per CPU-second: ${hs.cpu.toFixed(0)})`,
);
const { proto, raw } = benchTransportVsRaw();
console.log(
  `transport ${PACKET_BYTES} B via tunnel encapsulate+decapsulate: ${proto.wall.toFixed(0)} packets/s, ` +
    `${gbit(proto.wall).toFixed(2)} Gbit/s (per CPU-second: ${proto.cpu.toFixed(0)} packets, ${gbit(proto.cpu).toFixed(2)} Gbit)`,
);
console.log(
  `raw sodium chacha20poly1305_ietf encrypt+decrypt ${PACKET_BYTES} B: ${raw.wall.toFixed(0)} packets/s, ` +
    `${gbit(raw.wall).toFixed(2)} Gbit/s (per CPU-second: ${raw.cpu.toFixed(0)} packets, ${gbit(raw.cpu).toFixed(2)} Gbit)`,
);
console.log(
  `ratio protocol/raw: ${(proto.wall / raw.wall).toFixed(3)} wall-clock, ${(proto.cpu / raw.cpu).toFixed(3)} CPU-time (goal >= 0.85)`,
);

/** seal + open of one 1400-byte packet per operation through one AEAD implementation. */
function aeadBatch(impl: AeadImpl): () => void {
  const key = Buffer.alloc(32, 9);
  const buf = Buffer.alloc(DATA_HEADER_BYTES + PACKET_BYTES + DATA_TRAILER_BYTES);
  let counter = 0;
  return () => {
    for (let i = 0; i < BATCH; i++) {
      impl.seal(key, counter, 0, buf, DATA_HEADER_BYTES, PACKET_BYTES, buf, DATA_HEADER_BYTES);
      impl.open(key, counter++, 0, buf, DATA_HEADER_BYTES, PACKET_BYTES + 16, buf, DATA_HEADER_BYTES);
    }
  };
}

const { sodium: sodiumImpl, native } = aeadBackends();
const impls: [string, AeadImpl, () => void][] = [['sodium-native', sodiumImpl, () => undefined]];
if (native) {
  const initial = native.backend();
  impls.push(['openssl-evp', native, () => native.setRaw(false)]);
  if (native.setRaw(true) === 'openssl-raw') impls.push(['openssl-raw', native, () => native.setRaw(true)]);
  native.setRaw(initial === 'openssl-raw');
}
const aeadRates = new Map<string, Rate[]>(impls.map(([name]) => [name, []]));
for (const [, impl, select] of impls) {
  select();
  measure(aeadBatch(impl), BATCH, WARMUP_MS);
}
for (let slice = 0; slice < 6; slice++) {
  for (const [name, impl, select] of impls) {
    select();
    aeadRates.get(name)!.push(measure(aeadBatch(impl), BATCH, MEASURE_MS / 6));
  }
}
if (native) native.setRaw(AEAD_BACKEND === 'openssl-raw');
const base = medianRate(aeadRates.get('sodium-native')!).cpu;
for (const [name] of impls) {
  const r = medianRate(aeadRates.get(name)!);
  console.log(
    `AEAD ${name} seal+open ${PACKET_BYTES} B: ${gbit(r.cpu).toFixed(2)} Gbit per CPU-second ` +
      `(${(1e9 / r.cpu).toFixed(0)} ns per packet, ${(r.cpu / base).toFixed(2)}x sodium-native)` +
      (name === AEAD_BACKEND || (name === 'sodium-native' && AEAD_BACKEND === 'sodium') ? '  <- in use' : ''),
  );
}
