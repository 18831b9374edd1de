/** Figures over rounds, the printed tables and the goal verdicts of `pnpm bench:tunnel`. */
import type { Contender } from './contenders.js';
import { TESTS, type RoundResult, type TestName } from './measure.js';

export interface ContenderResult {
  contender: Pick<Contender, 'id' | 'label'>;
  rounds: RoundResult[];
  /** Rounds that failed (not counted), with the reason. */
  failures: string[];
  /** Node-side tunnel process memory after the rounds (MiB), when there is one. */
  nodeMemory: { rss: number; peak: number } | null;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface Summary {
  id: string;
  label: string;
  /** Rounds measured, and the failed ones' reasons. */
  rounds: number;
  failures: string[];
  mbps: Record<TestName, { median: number; min: number; max: number }>;
  idleRtt: number;
  /** Fastest idle ping: the path's own cost, without the machine's scheduling delays. */
  idleRttMin: number;
  loadedRtt: number;
  lostPings: number;
  /** CPU seconds of the tunnel processes per GB moved, over all runs (NaN without tunnel processes). */
  cpuPerGB: number;
  retransmits: number;
  nodeMemory: { rss: number; peak: number } | null;
}

export function summarize(r: ContenderResult): Summary {
  const mbps = {} as Summary['mbps'];
  let cpu = 0;
  let bytes = 0;
  let retransmits = 0;
  for (const t of TESTS) {
    const xs = r.rounds.map((x) => x.runs[t].mbps);
    mbps[t] = { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
    for (const x of r.rounds) {
      cpu += x.runs[t].cpuSeconds;
      bytes += x.runs[t].bytes;
      retransmits += x.runs[t].retransmits;
    }
  }
  const idle = r.rounds.flatMap((x) => x.idleRttMs);
  const loaded = r.rounds.flatMap((x) => x.loadedRttMs);
  return {
    id: r.contender.id,
    label: r.contender.label,
    rounds: r.rounds.length,
    failures: r.failures,
    mbps,
    idleRtt: median(idle),
    idleRttMin: idle.length ? Math.min(...idle) : NaN,
    loadedRtt: median(loaded),
    lostPings: r.rounds.length * 40 - idle.length - loaded.length,
    cpuPerGB: r.contender.id === 'veth' ? NaN : cpu / (bytes / 1e9),
    retransmits,
    nodeMemory: r.nodeMemory,
  };
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');

function table(head: string[], rows: string[][], alignLeft = 1): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < alignLeft ? pad(c, w[i]!) : lpad(c, w[i]!))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

const TEST_LABEL: Record<TestName, string> = {
  up: 'client->node',
  down: 'node->client',
  parallel: '4 streams',
};

export function renderTables(sums: Summary[]): string {
  const out: string[] = [];
  out.push(
    table(
      [
        'contender',
        'rounds',
        ...TESTS.map((t) => `${TEST_LABEL[t]} Mbit/s med (min..max)`),
        'idle RTT ms med (min)',
        'loaded RTT ms',
        'CPU s/GB',
        'node RSS MiB (peak)',
      ],
      sums.map((s) => [
        s.label,
        String(s.rounds),
        ...TESTS.map((t) => `${f0(s.mbps[t].median)} (${f0(s.mbps[t].min)}..${f0(s.mbps[t].max)})`),
        `${f3(s.idleRtt)} (${f3(s.idleRttMin)})`,
        f3(s.loadedRtt),
        f2(s.cpuPerGB),
        s.nodeMemory ? `${s.nodeMemory.rss.toFixed(0)} (${s.nodeMemory.peak.toFixed(0)})` : '-',
      ]),
    ),
  );
  for (const s of sums) for (const f of s.failures) out.push(`${s.label}: ${f} (not counted)`);
  for (const id of ['corridor-udp', 'corridor-tcp']) {
    const c = sums.find((s) => s.id === id);
    if (!c) continue;
    out.push('');
    out.push(
      table(
        [
          `${c.label} vs`,
          ...TESTS.map((t) => `${TEST_LABEL[t]} x`),
          'idle RTT x',
          'loaded RTT x',
          'CPU/GB x',
        ],
        sums
          .filter((s) => s.id !== id)
          .map((s) => [
            s.label,
            ...TESTS.map((t) => f2(c.mbps[t].median / s.mbps[t].median)),
            f2(c.idleRtt / s.idleRtt),
            f2(c.loadedRtt / s.loadedRtt),
            f2(c.cpuPerGB / s.cpuPerGB),
          ]),
      ),
    );
  }
  return out.join('\n');
}

export interface Verdict {
  goal: string;
  met: boolean | null;
  detail: string;
}

export function verdicts(sums: Summary[]): Verdict[] {
  const get = (id: string) => sums.find((s) => s.id === id && s.rounds > 0);
  const out: Verdict[] = [];
  const ratioGoal = (a: string, b: string, min: number, name: string) => {
    const x = get(a);
    const y = get(b);
    if (!x || !y) return out.push({ goal: name, met: null, detail: 'not measured in this run' });
    const ratios = TESTS.map((t) => x.mbps[t].median / y.mbps[t].median);
    out.push({
      goal: name,
      met: ratios.every((r) => r >= min),
      detail: TESTS.map((t, i) => `${TEST_LABEL[t]} ${f2(ratios[i]!)}x`).join(', '),
    });
  };
  ratioGoal('corridor-udp', 'openvpn-udp-aes', 1.25, 'Corridor UDP >= 1.25x OpenVPN UDP (AES-256-GCM)');
  ratioGoal('corridor-udp', 'wireguard-go', 1.5, 'Corridor UDP >= 1.5x wireguard-go');
  ratioGoal('corridor-tcp', 'openvpn-tcp', 1.25, 'Corridor TCP >= 1.25x OpenVPN TCP');
  ratioGoal('corridor-udp', 'openvpn-udp-aes', 1.5, '(aim) Corridor UDP >= 1.5x OpenVPN UDP (AES-256-GCM)');
  ratioGoal('corridor-udp', 'wireguard-go', 1.9, '(aim) Corridor UDP >= 1.9x wireguard-go');
  for (const [a, b] of [
    ['corridor-udp', 'openvpn-udp-aes'],
    ['corridor-tcp', 'openvpn-tcp'],
  ] as const) {
    const c = get(a);
    const o = get(b);
    if (!c || !o) continue;
    out.push({
      goal: `idle RTT through ${c.label} <= ${o.label}`,
      met: c.idleRtt <= o.idleRtt,
      detail: `median ${f3(c.idleRtt)} ms vs ${f3(o.idleRtt)} ms (fastest ${f3(c.idleRttMin)} vs ${f3(o.idleRttMin)})`,
    });
    out.push({
      goal: `loaded RTT through ${c.label} no worse than ${o.label}`,
      met: c.loadedRtt <= o.loadedRtt,
      detail: `${f3(c.loadedRtt)} ms vs ${f3(o.loadedRtt)} ms`,
    });
  }
  for (const id of ['corridor-udp', 'corridor-tcp']) {
    const x = get(id);
    if (!x) continue;
    const others = sums.filter((s) => !s.id.startsWith('corridor') && Number.isFinite(s.cpuPerGB));
    const worst = others.filter((s) => s.cpuPerGB <= x.cpuPerGB);
    out.push({
      goal: `${x.label}: CPU per GB lower than every contender's`,
      met: others.length > 0 && worst.length === 0,
      detail: `${f2(x.cpuPerGB)} s/GB; ${others.map((s) => `${s.id} ${f2(s.cpuPerGB)}`).join(', ')}`,
    });
  }
  return out;
}

export function renderVerdicts(v: Verdict[]): string {
  return v
    .map((x) => `${x.met === null ? 'n/a ' : x.met ? 'MET ' : 'NOT '} ${x.goal}: ${x.detail}`)
    .join('\n');
}
