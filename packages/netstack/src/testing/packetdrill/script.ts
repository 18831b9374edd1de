// The packetdrill-style script format: one event per line, `time event`.
//
//   time:   0.100 (absolute seconds) | +0.05 (relative to the previous line) | * (any time, `>` only)
//   events:
//     < FLAGS SEQ:END(LEN) [ack N] [win N] [<options>]    a segment from the remote peer
//     > FLAGS SEQ:END(LEN) [ack N] [win N] [<options>]    a segment the stack must send then
//     < icmp (needfrag|port|host|net|proto) [mtu N] seq S   an ICMP error quoting our segment with
//                                                         relative sequence S
//     listen PORT | connect PORT | accept | write N | read N | shutdown | close | abort | nodelay | keepalive
//     expect state NAME | expect error CODE | expect readable N | expect eof
//     expect drop REASON N | expect stat COUNTER N | expect no-connection
//   options: mss N, sackOK, TS val V ecr E, nop, wscale N, sack L:R ..., eol   (V/E may be *; in an
//            inbound segment `ecr *` echoes the last TS val the stack sent)
//   FLAGS: S F R P . in any combination ("S." = SYN+ACK, "P." = PSH+ACK).
//   Sequence numbers are relative: inbound SEQ and outbound ACK to the remote's ISN, outbound SEQ and
//   inbound ACK (and SACK blocks) to ours (learned from our first SYN or SYN-ACK). Outbound fields
//   given as * (or left out: win, options) are not checked.
// Header lines `--key=value` set options: --family=4|6, --tolerance=SECONDS, --mtu=N, --remote-isn=N,
// --port=N (our port before listen/connect), --tcp.<TcpConfig key>=value. `//` starts a comment.

export interface TcpOptionsSpec {
  mss?: number;
  wscale?: number;
  sackOk?: boolean;
  /** [val, ecr]; null entries are wildcards. */
  ts?: [number | null, number | null];
  sack?: [number, number][];
}

export interface PacketLine {
  kind: 'packet';
  dir: '<' | '>';
  flags: string;
  seq: number | null;
  end: number | null;
  len: number | null;
  ack: number | null;
  win: number | null;
  /** undefined = not checked (outbound) / none (inbound). */
  options: TcpOptionsSpec | undefined;
}

export interface IcmpLine {
  kind: 'icmp';
  what: 'needfrag' | 'port' | 'host' | 'net' | 'proto';
  mtu: number;
  seq: number;
}

export interface CommandLine {
  kind: 'command';
  name: string;
  args: string[];
}

export interface ScriptLine {
  lineNo: number;
  text: string;
  /** Absolute seconds, or null for `*`. */
  time: number | null;
  event: PacketLine | IcmpLine | CommandLine;
}

export interface Script {
  options: Record<string, string>;
  lines: ScriptLine[];
}

export class ScriptError extends Error {
  constructor(lineNo: number, message: string) {
    super(`line ${lineNo}: ${message}`);
    this.name = 'ScriptError';
  }
}

function num(text: string | undefined, lineNo: number, what: string): number | null {
  if (text === '*') return null;
  const n = Number(text);
  if (text === undefined || text === '' || !Number.isFinite(n))
    throw new ScriptError(lineNo, `bad ${what}: ${String(text)}`);
  return n;
}

function parseOptions(text: string, lineNo: number): TcpOptionsSpec {
  const o: TcpOptionsSpec = {};
  if (text.trim() === '') return o;
  for (const raw of text.split(',')) {
    const parts = raw.trim().split(/\s+/);
    const kind = parts[0];
    switch (kind) {
      case 'mss':
        o.mss = num(parts[1], lineNo, 'mss') ?? undefined;
        break;
      case 'wscale':
        o.wscale = num(parts[1], lineNo, 'wscale') ?? undefined;
        break;
      case 'sackOK':
        o.sackOk = true;
        break;
      case 'TS':
        if (parts[1] !== 'val' || parts[3] !== 'ecr') throw new ScriptError(lineNo, `bad TS option: ${raw}`);
        o.ts = [num(parts[2], lineNo, 'TS val'), num(parts[4], lineNo, 'TS ecr')];
        break;
      case 'sack':
        o.sack = parts.slice(1).map((b) => {
          const m = /^(\d+):(\d+)$/.exec(b);
          if (!m) throw new ScriptError(lineNo, `bad SACK block: ${b}`);
          return [Number(m[1]), Number(m[2])] as [number, number];
        });
        break;
      case 'nop':
      case 'eol':
        break;
      default:
        throw new ScriptError(lineNo, `unknown option: ${raw}`);
    }
  }
  return o;
}

function parsePacket(dir: '<' | '>', rest: string, lineNo: number): PacketLine {
  let opts: TcpOptionsSpec | undefined;
  const lt = rest.indexOf('<');
  if (lt >= 0) {
    const gt = rest.lastIndexOf('>');
    if (gt < lt) throw new ScriptError(lineNo, 'unterminated <options>');
    opts = parseOptions(rest.slice(lt + 1, gt), lineNo);
    rest = rest.slice(0, lt) + rest.slice(gt + 1);
  }
  const t = rest.trim().split(/\s+/);
  const flags = t[0] ?? '';
  if (!/^[SFRP.U]+$/.test(flags)) throw new ScriptError(lineNo, `bad flags: ${flags}`);
  const sm = /^(\*|\d+):(\*|\d+)\((\*|\d+)\)$/.exec(t[1] ?? '');
  if (!sm) throw new ScriptError(lineNo, `bad SEQ:END(LEN): ${t[1] ?? ''}`);
  const p: PacketLine = {
    kind: 'packet',
    dir,
    flags,
    seq: num(sm[1], lineNo, 'seq'),
    end: num(sm[2], lineNo, 'end'),
    len: num(sm[3], lineNo, 'len'),
    ack: null,
    win: null,
    options: opts,
  };
  for (let i = 2; i < t.length; i += 2) {
    const k = t[i];
    if (k === 'ack') p.ack = num(t[i + 1], lineNo, 'ack');
    else if (k === 'win') p.win = num(t[i + 1], lineNo, 'win');
    else throw new ScriptError(lineNo, `unexpected token: ${k}`);
  }
  if (dir === '<') {
    if (p.seq === null || p.len === null)
      throw new ScriptError(lineNo, 'inbound packets need a concrete SEQ and LEN');
    if (flags.includes('.') && p.ack === null)
      throw new ScriptError(lineNo, 'inbound ACK needs an ack number');
  }
  return p;
}

export function parseScript(text: string): Script {
  const options: Record<string, string> = {};
  const lines: ScriptLine[] = [];
  let prev = 0;
  const src = text.split('\n');
  for (let i = 0; i < src.length; i++) {
    const lineNo = i + 1;
    const line = (src[i] as string).replace(/\/\/.*$/, '').trim();
    if (line === '') continue;
    if (line.startsWith('--')) {
      for (const tok of line.split(/\s+/)) {
        const m = /^--([\w.-]+)=(.*)$/.exec(tok);
        if (!m) throw new ScriptError(lineNo, `bad option: ${tok}`);
        options[m[1] as string] = m[2] as string;
      }
      continue;
    }
    const sp = line.indexOf(' ');
    if (sp < 0) throw new ScriptError(lineNo, 'expected `time event`');
    const ts = line.slice(0, sp);
    const rest = line.slice(sp + 1).trim();
    // Times are kept in whole microseconds so that sums of decimal seconds stay exact.
    let time: number | null;
    if (ts === '*') time = null;
    else if (ts.startsWith('+')) time = prev + Math.round((num(ts.slice(1), lineNo, 'time') as number) * 1e6);
    else time = Math.round((num(ts, lineNo, 'time') as number) * 1e6);
    if (time !== null) prev = time;
    let event: ScriptLine['event'];
    if (rest.startsWith('< icmp')) {
      const t = rest.split(/\s+/);
      const what = t[2] as IcmpLine['what'];
      if (!['needfrag', 'port', 'host', 'net', 'proto'].includes(what))
        throw new ScriptError(lineNo, `bad icmp kind: ${what}`);
      let mtu = 0;
      let seq = 0;
      for (let k = 3; k < t.length; k += 2) {
        if (t[k] === 'mtu') mtu = num(t[k + 1], lineNo, 'mtu') as number;
        else if (t[k] === 'seq') seq = num(t[k + 1], lineNo, 'seq') as number;
        else throw new ScriptError(lineNo, `unexpected token: ${t[k]}`);
      }
      event = { kind: 'icmp', what, mtu, seq };
    } else if (rest.startsWith('<') || rest.startsWith('>')) {
      event = parsePacket(rest[0] as '<' | '>', rest.slice(1), lineNo);
    } else {
      const t = rest.split(/\s+/);
      event = { kind: 'command', name: t[0] as string, args: t.slice(1) };
    }
    if (time === null && !(event.kind === 'packet' && event.dir === '>')) {
      throw new ScriptError(lineNo, '`*` time is only allowed for outbound packets');
    }
    lines.push({ lineNo, text: line, time: time === null ? null : time / 1e6, event });
  }
  return { options, lines };
}
