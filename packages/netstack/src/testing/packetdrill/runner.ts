// Runs a packetdrill-style script (script.ts) against one Stack in virtual time: inbound lines are
// fed to stack.input(), outbound lines are matched, in order, against what the stack sent and when
// (within the tolerance), and commands drive the connection through the engine API. Any packet the
// stack sends that no `>` line expects is an error, as are mismatched fields. No I/O, no real time.
import { Stack } from '../../stack.js';
import type { TcpConfig } from '../../tcp/config.js';
import type { TcpListener } from '../../tcp/listener.js';
import { EV_CLOSED, type Tcb, type TcpHandler } from '../../tcp/tcb.js';
import { parseIp } from '../../wire/address.js';
import { decode, buildIcmp, buildTcp, type Decoded } from '../packets.js';
import { Prng } from '../prng.js';
import {
  parseScript,
  ScriptError,
  type IcmpLine,
  type PacketLine,
  type Script,
  type ScriptLine,
} from './script.js';

interface Sent {
  at: number;
  pkt: Decoded;
}

export interface RunReport {
  lines: number;
  packetsIn: number;
  packetsOut: number;
}

const DEFAULTS = {
  4: { local: '198.18.0.1', remote: '198.18.0.2' },
  6: { local: 'fd00::1', remote: 'fd00::2' },
} as const;

function coerce(v: string): unknown {
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return v;
}

class Handler implements TcpHandler {
  onTcpEvents(_tcb: Tcb, _ev: number): void {
    // State is inspected through commands; events only need to be consumed.
  }
}

export class PacketdrillRunner {
  private readonly stack: Stack;
  private now = 0;
  private readonly sent: Sent[] = [];
  private readonly family: 4 | 6;
  private readonly local: string;
  private readonly remote: string;
  private readonly remotePort = 40000;
  private readonly toleranceMs: number;
  private readonly remoteIsn: number;
  private ourIsn: number | null = null;
  private ourPort = 0;
  private listener: TcpListener | null = null;
  private conn: Tcb | null = null;
  private packetsIn = 0;
  private readonly handler = new Handler();
  /** The last TS val the stack sent (what an inbound `ecr *` echoes). */
  private lastTsVal = 0;
  /** Bytes the script wrote per connection (the data pattern is by stream offset). */
  private readonly written = new Map<Tcb, number>();

  constructor(private readonly script: Script) {
    const o = script.options;
    this.family = o.family === '6' ? 6 : 4;
    this.local = o.local ?? DEFAULTS[this.family].local;
    this.remote = o.remote ?? DEFAULTS[this.family].remote;
    this.toleranceMs = Number(o.tolerance ?? 0.004) * 1000;
    this.remoteIsn = Number(o['remote-isn'] ?? 1_000_000) >>> 0;
    this.ourPort = Number(o.port ?? 0);
    const tcp: Partial<TcpConfig> = {};
    for (const [k, v] of Object.entries(o)) {
      if (k.startsWith('tcp.')) (tcp as Record<string, unknown>)[k.slice(4)] = coerce(v);
    }
    const rng = new Prng(Number(o.seed ?? 1));
    this.stack = new Stack({
      addresses: [this.local],
      mtu: Number(o.mtu ?? 1500),
      clock: () => this.now,
      random: (b) => rng.fill(b),
      sink: (p) => {
        const pkt = decode(p.slice());
        if (pkt.tcp?.ts) this.lastTsVal = pkt.tcp.ts[0];
        this.sent.push({ at: this.now, pkt });
      },
      tcp,
    });
  }

  static run(text: string): RunReport {
    return new PacketdrillRunner(parseScript(text)).run();
  }

  run(): RunReport {
    for (const line of this.script.lines) {
      try {
        this.step(line);
      } catch (err) {
        if (err instanceof ScriptError) throw err;
        throw new ScriptError(line.lineNo, `${(err as Error).message}\n  in: ${line.text}${this.pending()}`);
      }
    }
    // Everything sent up to the last line must have been expected.
    this.checkNoUnexpected(this.now + 1e-9, this.script.lines[this.script.lines.length - 1]?.lineNo ?? 0);
    return {
      lines: this.script.lines.length,
      packetsIn: this.packetsIn,
      packetsOut: this.stack.stats().ip.packetsOut,
    };
  }

  private pending(): string {
    if (this.sent.length === 0) return '';
    return `\n  unconsumed outbound: ${this.sent.map((s) => `@${(s.at / 1000).toFixed(3)} ${this.describe(s.pkt)}`).join(' | ')}`;
  }

  /** Advances virtual time to `t` ms, running every stack deadline on the way. */
  private advance(t: number): void {
    while (true) {
      const d = this.stack.nextDeadline();
      if (d === -Infinity) {
        this.stack.poll();
        continue;
      }
      if (d > t) break;
      this.now = Math.max(this.now, d);
      this.stack.poll();
    }
    if (t > this.now) this.now = t;
  }

  private checkNoUnexpected(before: number, lineNo: number): void {
    const early = this.sent.find((s) => s.at < before - this.toleranceMs);
    if (early) {
      throw new ScriptError(
        lineNo,
        `unexpected outbound packet at ${(early.at / 1000).toFixed(4)}s: ${this.describe(early.pkt)}`,
      );
    }
  }

  private step(line: ScriptLine): void {
    const ev = line.event;
    if (ev.kind === 'packet' && ev.dir === '>') {
      this.expectOutbound(line, ev);
      return;
    }
    const t = Math.round((line.time as number) * 1e6) / 1000;
    this.advance(t);
    this.checkNoUnexpected(t, line.lineNo);
    if (ev.kind === 'packet') this.inject(ev);
    else if (ev.kind === 'icmp') this.injectIcmp(ev);
    else this.command(line, ev.name, ev.args);
    this.stack.poll();
  }

  private describe(d: Decoded): string {
    const t = d.tcp;
    if (!t) return d.icmp ? `icmp type ${d.icmp.type} code ${d.icmp.code}` : `protocol ${d.protocol}`;
    const relSeq = this.ourIsn === null ? t.seq : (t.seq - this.ourIsn) >>> 0;
    const relAck = (t.ack - this.remoteIsn) >>> 0;
    const opts: string[] = [];
    if (t.mss) opts.push(`mss ${t.mss}`);
    if (t.sackOk) opts.push('sackOK');
    if (t.ts) opts.push(`TS val ${t.ts[0]} ecr ${t.ts[1]}`);
    if (t.wscale >= 0) opts.push(`wscale ${t.wscale}`);
    if (t.sack.length)
      opts.push(
        `sack ${t.sack.map(([l, r]) => `${(l - this.remoteIsn) >>> 0}:${(r - this.remoteIsn) >>> 0}`).join(' ')}`,
      );
    const n = t.payload.length;
    return `${t.flags} ${relSeq}:${(relSeq + n) >>> 0}(${n})${t.flags.includes('.') ? ` ack ${relAck}` : ''} win ${t.win}${opts.length ? ` <${opts.join(',')}>` : ''}`;
  }

  private inject(p: PacketLine): void {
    const isn = this.ourIsn ?? 0;
    const payload = new Uint8Array(p.len as number);
    for (let i = 0; i < payload.length; i++) payload[i] = (((p.seq as number) + i) * 7) & 0xff;
    const o = p.options ?? {};
    const pkt = buildTcp({
      src: this.remote,
      dst: this.local,
      sport: this.remotePort,
      dport: this.ourPort,
      seq: ((p.seq as number) + this.remoteIsn) >>> 0,
      ack: p.ack === null ? 0 : (p.ack + isn) >>> 0,
      flags: p.flags,
      win: p.win ?? 65535,
      mss: o.mss,
      wscale: o.wscale,
      sackOk: o.sackOk,
      ts: o.ts ? [o.ts[0] ?? 0, o.ts[1] ?? this.lastTsVal] : undefined,
      sack: o.sack?.map(([l, r]) => [(l + isn) >>> 0, (r + isn) >>> 0] as [number, number]),
      payload,
    });
    this.packetsIn++;
    this.stack.input(pkt);
  }

  private injectIcmp(e: IcmpLine): void {
    const isn = this.ourIsn ?? 0;
    // The quoted packet: our own segment (local -> remote) with the relative sequence number.
    const quoted = buildTcp({
      src: this.local,
      dst: this.remote,
      sport: this.ourPort,
      dport: this.remotePort,
      seq: (e.seq + isn) >>> 0,
      flags: '.',
    });
    const v6 = this.family === 6;
    let type: number;
    let code: number;
    let word2 = 0;
    let word1 = 0;
    if (e.what === 'needfrag') {
      if (v6) {
        type = 2;
        code = 0;
        word1 = e.mtu >>> 16;
        word2 = e.mtu & 0xffff;
      } else {
        type = 3;
        code = 4;
        word2 = e.mtu;
      }
    } else if (v6) {
      type = 1;
      code = { port: 4, host: 3, net: 0, proto: 4 }[e.what];
    } else {
      type = 3;
      code = { port: 3, host: 1, net: 0, proto: 2 }[e.what];
    }
    const router = this.family === 4 ? '198.18.0.254' : 'fd00::fe';
    this.packetsIn++;
    this.stack.input(
      buildIcmp({
        src: router,
        dst: this.local,
        type,
        code,
        word1,
        word2,
        body: quoted.subarray(0, (v6 ? 40 : 20) + 8),
      }),
    );
  }

  private expectOutbound(line: ScriptLine, p: PacketLine): void {
    let s = this.sent.shift();
    if (!s) {
      // Not sent yet: run time forward (to the expected time plus tolerance, or far for `*`).
      const limit = line.time === null ? this.now + 600_000 : line.time * 1000 + this.toleranceMs;
      while (this.sent.length === 0) {
        const d = this.stack.nextDeadline();
        if (d === Infinity || d > limit) break;
        this.now = Math.max(this.now, d);
        this.stack.poll();
      }
      s = this.sent.shift();
      if (!s)
        throw new ScriptError(
          line.lineNo,
          `expected outbound packet, none sent by ${(limit / 1000).toFixed(3)}s: ${line.text}`,
        );
      if (line.time !== null && line.time * 1000 > this.now) this.now = line.time * 1000;
    }
    const d = s.pkt;
    const where = `\n  expected: ${line.text}\n  actual:   @${(s.at / 1000).toFixed(4)} ${this.describe(d)}`;
    const fail = (msg: string): never => {
      throw new ScriptError(line.lineNo, `${msg}${where}`);
    };
    if (line.time !== null && Math.abs(s.at - line.time * 1000) > this.toleranceMs)
      fail(`sent at the wrong time`);
    const t = d.tcp;
    if (!t) return fail('not a TCP segment');
    if (d.src !== parseIp(this.local)!.toString() || d.dst !== parseIp(this.remote)!.toString())
      fail('wrong addresses');
    if (sortFlags(t.flags) !== sortFlags(p.flags)) fail('wrong flags');
    if (t.flags.includes('S') && this.ourIsn === null) {
      this.ourIsn = t.seq;
      this.ourPort = t.sport;
    }
    const isn = this.ourIsn ?? 0;
    const rel = (t.seq - isn) >>> 0;
    if (p.seq !== null && rel !== p.seq >>> 0) fail('wrong sequence number');
    if (p.len !== null && t.payload.length !== p.len) fail('wrong payload length');
    if (p.end !== null && (rel + t.payload.length) >>> 0 !== p.end >>> 0) fail('wrong end sequence');
    if (p.ack !== null && (t.ack - this.remoteIsn) >>> 0 !== p.ack >>> 0) fail('wrong ack');
    if (p.win !== null && t.win !== p.win) fail('wrong window');
    if (p.options !== undefined) {
      const o = p.options;
      if ((o.mss ?? 0) !== t.mss) fail('wrong MSS option');
      if ((o.wscale ?? -1) !== t.wscale) fail('wrong window scale option');
      if ((o.sackOk ?? false) !== t.sackOk) fail('wrong SACK-permitted option');
      if ((o.ts === undefined) !== (t.ts === null)) fail('timestamp option presence differs');
      if (o.ts && t.ts) {
        if (o.ts[0] !== null && o.ts[0] !== t.ts[0]) fail('wrong TS val');
        if (o.ts[1] !== null && o.ts[1] !== t.ts[1]) fail('wrong TS ecr');
      }
      const sack = t.sack.map(([l, r]) => [(l - this.remoteIsn) >>> 0, (r - this.remoteIsn) >>> 0]);
      if (JSON.stringify(sack) !== JSON.stringify(o.sack ?? [])) fail('wrong SACK blocks');
    }
    // Verify the payload is the data we wrote (pattern by stream offset).
    if (t.payload.length > 0) {
      for (let i = 0; i < t.payload.length; i++) {
        const off = rel - 1 + i;
        if (t.payload[i] !== ((off * 11 + 5) & 0xff))
          fail(`payload byte ${i} is not the data written at offset ${off}`);
      }
    }
  }

  private command(line: ScriptLine, name: string, args: string[]): void {
    const need = (): Tcb => {
      if (!this.conn) throw new ScriptError(line.lineNo, 'no connection (accept or connect first)');
      return this.conn;
    };
    const n = (i: number): number => {
      const v = Number(args[i]);
      if (!Number.isFinite(v)) throw new ScriptError(line.lineNo, `bad number: ${args[i]}`);
      return v;
    };
    switch (name) {
      case 'listen':
        this.ourPort = n(0);
        this.listener = this.stack.tcpListen({ port: this.ourPort });
        return;
      case 'connect': {
        this.conn = this.stack.tcpConnect({
          host: this.remote,
          port: this.remotePort,
          localAddress: this.local,
        });
        this.conn.handler = this.handler;
        this.ourPort = this.conn.localPort;
        // The remote port of scripts is fixed; connect's argument is informational.
        return;
      }
      case 'accept': {
        const t = this.listener?.accept();
        if (!t) throw new ScriptError(line.lineNo, 'accept: no established connection is queued');
        t.handler = this.handler;
        this.conn = t;
        return;
      }
      case 'write': {
        const c = need();
        const len = n(0);
        const start = this.written.get(c) ?? 0;
        const buf = new Uint8Array(len);
        for (let i = 0; i < len; i++) buf[i] = ((start + i) * 11 + 5) & 0xff;
        const took = c.send(buf, 0, len);
        if (took !== len)
          throw new ScriptError(line.lineNo, `write: only ${took} of ${len} bytes fit the send buffer`);
        this.written.set(c, start + len);
        return;
      }
      case 'read': {
        const c = need();
        const len = n(0);
        const buf = new Uint8Array(len);
        const got = c.recv(buf, 0, len);
        if (got !== len) throw new ScriptError(line.lineNo, `read: ${got} bytes available, expected ${len}`);
        return;
      }
      case 'shutdown':
        need().shutdown();
        return;
      case 'close':
        need().close();
        return;
      case 'abort':
        need().abort();
        return;
      case 'nodelay':
        need().setNoDelay(true);
        return;
      case 'keepalive':
        need().setKeepAlive(true);
        return;
      case 'expect':
        this.expect(line, args);
        return;
      default:
        throw new ScriptError(line.lineNo, `unknown command: ${name}`);
    }
  }

  private expect(line: ScriptLine, args: string[]): void {
    const [what, a, b] = args;
    const fail = (msg: string): never => {
      throw new ScriptError(line.lineNo, msg);
    };
    const c = this.conn;
    switch (what) {
      case 'state':
        if ((c?.stateName ?? 'CLOSED') !== a) fail(`state is ${c?.stateName ?? 'CLOSED'}, expected ${a}`);
        return;
      case 'error':
        if ((c?.error ?? 'none') !== a) fail(`error is ${c?.error ?? 'none'}, expected ${a}`);
        return;
      case 'readable':
        if ((c?.readableLength ?? 0) !== Number(a))
          fail(`readable is ${c?.readableLength ?? 0}, expected ${a}`);
        return;
      case 'eof':
        if (!c?.eof) fail('expected EOF (peer FIN received and all data read)');
        return;
      case 'drop': {
        const v = (this.stack.stats().drops as Record<string, number>)[a as string];
        if (v === undefined) fail(`unknown drop reason ${a}`);
        if (v !== Number(b)) fail(`drop ${a} is ${v}, expected ${b}`);
        return;
      }
      case 'stat': {
        const v = (this.stack.stats().tcp as unknown as Record<string, number>)[a as string];
        if (v === undefined) fail(`unknown counter ${a}`);
        if (v !== Number(b)) fail(`${a} is ${v}, expected ${b}`);
        return;
      }
      case 'no-connection':
        if (this.stack.connectionCount !== 0)
          fail(
            `${this.stack.connectionCount} connection(s) remain: ${this.stack
              .connections()
              .map((t) => t.stateName)
              .join(', ')}`,
          );
        return;
      default:
        fail(`unknown expectation: ${what}`);
    }
    void EV_CLOSED;
  }
}

function sortFlags(f: string): string {
  return [...f].sort().join('');
}
