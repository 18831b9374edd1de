// The lab resolver: an authoritative DNS server for the lab zone ("lab."), run inside the resolver
// host's namespace by the lab (LabHost.spawn). It answers A/AAAA from its record table over UDP and
// TCP on port 53, IPv4 and IPv6; names under the zone that it does not know get NXDOMAIN, names
// outside it REFUSED (the lab has no internet to recurse to).
//
// Protocol with the lab (the parent process):
//   argv[2]  JSON config: { zone, ttl, port, records: { "<name>": { a: [...], aaaa: [...] } } }
// UDP answers longer than 512 bytes are sent truncated (TC) so clients retry over TCP.
//   stdout   one JSON object per line: {"event":"listening",...} once, then {"event":"query",...} per
//            query (source address and port, transport, name, type, rcode, answers) and
//            {"event":"ack","id":n} per command.
//   stdin    one JSON command per line: {"cmd":"set","id":n,"name":"x.lab","a":[...],"aaaa":[...]},
//            {"cmd":"delete","id":n,"name":"x.lab"}.
// SIGTERM/SIGINT close the sockets and exit 0. Output errors (the parent is gone) are ignored.
import dgram from 'node:dgram';
import net from 'node:net';
import readline from 'node:readline';
import {
  aaaaRecord,
  aRecord,
  buildErrorResponse,
  buildResponse,
  DNS_CLASS_IN,
  DNS_TYPE,
  DNS_UDP_MAX,
  parseQuery,
  RCODE,
  typeName,
  type DnsAnswer,
} from '../dns-wire.js';

interface Config {
  zone: string;
  ttl: number;
  port: number;
  records: Record<string, { a?: string[]; aaaa?: string[] }>;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const zone = config.zone.toLowerCase().replace(/\.$/, '');
const records = new Map<string, { a: string[]; aaaa: string[] }>();
const normalize = (name: string) => name.toLowerCase().replace(/\.$/, '');
for (const [name, r] of Object.entries(config.records))
  records.set(normalize(name), { a: r.a ?? [], aaaa: r.aaaa ?? [] });

process.stdout.on('error', () => undefined);
function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function plainAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** Answers one query message; undefined means "send nothing" (responses, runt packets). */
function answer(
  msg: Uint8Array,
  from: { address: string; port: number; transport: 'udp' | 'tcp' },
): Uint8Array | undefined {
  const parsed = parseQuery(msg);
  const base = {
    event: 'query',
    from: plainAddress(from.address),
    port: from.port,
    transport: from.transport,
  };
  if (!parsed.ok) {
    emit({ ...base, error: parsed.reason });
    if (parsed.id === undefined) return undefined;
    const rcode = parsed.reason === 'bad-opcode' ? RCODE.NOTIMP : RCODE.FORMERR;
    return buildErrorResponse(parsed.id, parsed.opcode ?? 0, parsed.rd ?? false, rcode);
  }
  const q = parsed.query;
  let rcode: number = RCODE.NOERROR;
  const answers: DnsAnswer[] = [];
  const inZone = q.name === zone || q.name.endsWith(`.${zone}`);
  if (q.qclass !== DNS_CLASS_IN) {
    rcode = RCODE.REFUSED;
  } else if (!inZone) {
    rcode = RCODE.REFUSED;
  } else {
    const r = records.get(q.name);
    if (!r && q.name !== zone) {
      rcode = RCODE.NXDOMAIN;
    } else if (r) {
      const wantA = q.qtype === DNS_TYPE.A || q.qtype === DNS_TYPE.ANY;
      const wantAAAA = q.qtype === DNS_TYPE.AAAA || q.qtype === DNS_TYPE.ANY;
      if (wantA) for (const a of r.a) answers.push(aRecord(a, config.ttl));
      if (wantAAAA) for (const a of r.aaaa) answers.push(aaaaRecord(a, config.ttl));
    }
  }
  emit({
    ...base,
    name: q.name,
    type: typeName(q.qtype),
    rcode: Object.keys(RCODE).find((k) => RCODE[k as keyof typeof RCODE] === rcode),
    answers: answers.length,
  });
  const full = buildResponse(q, rcode, answers, inZone);
  // Over UDP an answer that does not fit 512 bytes goes out empty with TC set: the client retries on TCP.
  if (from.transport === 'udp' && full.length > DNS_UDP_MAX) return buildResponse(q, rcode, [], inZone, true);
  return full;
}

const closers: (() => void)[] = [];
let pending = 0;
const ready: Record<string, string> = {};
function listening(what: string, addr: string): void {
  ready[what] = addr;
  if (--pending === 0) emit({ event: 'listening', ...ready });
}

for (const [type, host] of [
  ['udp4', '0.0.0.0'],
  ['udp6', '::'],
] as const) {
  pending++;
  const sock = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
  sock.on('message', (msg, rinfo) => {
    const reply = answer(msg, { address: rinfo.address, port: rinfo.port, transport: 'udp' });
    if (reply) sock.send(reply, rinfo.port, rinfo.address);
  });
  sock.on('error', (e) => {
    emit({ event: 'error', where: type, message: e.message });
    process.exit(1);
  });
  sock.bind(config.port, host, () => listening(type, `${host}:${config.port}`));
  closers.push(() => sock.close());
}

for (const [name, host] of [
  ['tcp4', '0.0.0.0'],
  ['tcp6', '::'],
] as const) {
  pending++;
  const server = net.createServer((conn) => {
    let buffered = Buffer.alloc(0);
    conn.setTimeout(10_000, () => conn.destroy());
    conn.on('error', () => undefined);
    conn.on('data', (d: Buffer) => {
      buffered = Buffer.concat([buffered, d]);
      // A message is 2 length bytes + body; the length field caps what we ever hold at 64 KiB + 2.
      while (buffered.length >= 2) {
        const len = buffered.readUInt16BE(0);
        if (buffered.length < 2 + len) break;
        const msg = buffered.subarray(2, 2 + len);
        buffered = buffered.subarray(2 + len);
        const reply = answer(msg, {
          address: conn.remoteAddress ?? '',
          port: conn.remotePort ?? 0,
          transport: 'tcp',
        });
        if (!reply) {
          conn.destroy();
          return;
        }
        const framed = Buffer.alloc(2 + reply.length);
        framed.writeUInt16BE(reply.length, 0);
        framed.set(reply, 2);
        conn.write(framed);
      }
    });
  });
  server.on('error', (e) => {
    emit({ event: 'error', where: name, message: e.message });
    process.exit(1);
  });
  server.listen({ port: config.port, host, ipv6Only: name === 'tcp6' }, () =>
    listening(name, `${host}:${config.port}`),
  );
  closers.push(() => server.close());
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let cmd: { cmd?: string; id?: number; name?: string; a?: string[]; aaaa?: string[] };
  try {
    cmd = JSON.parse(line) as typeof cmd;
  } catch {
    emit({ event: 'error', where: 'stdin', message: 'not JSON' });
    return;
  }
  if (cmd.cmd === 'set' && typeof cmd.name === 'string') {
    const bad = [
      ...(cmd.a ?? []).filter((a) => !net.isIPv4(a)),
      ...(cmd.aaaa ?? []).filter((a) => !net.isIPv6(a)),
    ];
    if (bad.length > 0) {
      emit({
        event: 'error',
        where: 'stdin',
        message: `not addresses of the record's type: ${bad.join(' ')}`,
        id: cmd.id,
      });
      return;
    }
    records.set(normalize(cmd.name), { a: cmd.a ?? [], aaaa: cmd.aaaa ?? [] });
  } else if (cmd.cmd === 'delete' && typeof cmd.name === 'string') {
    records.delete(normalize(cmd.name));
  } else {
    emit({
      event: 'error',
      where: 'stdin',
      message: `unknown command ${JSON.stringify(cmd.cmd)}`,
      id: cmd.id,
    });
    return;
  }
  emit({ event: 'ack', id: cmd.id });
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    for (const c of closers) c();
    process.exit(0);
  });
}
