// The figures and verdicts `pnpm bench:tunnel` prints, from synthetic rounds.
import { describe, expect, it } from 'vitest';
import type { RoundResult } from './measure.js';
import { renderTables, renderVerdicts, summarize, verdicts, type ContenderResult } from './report.js';

function round(mbps: number, cpuSeconds: number, idle: number[], loaded: number[]): RoundResult {
  const run = (m: number) => ({
    mbps: m,
    bytes: (m * 1e6 * 10) / 8,
    cpuSeconds,
    cpuByProcess: [cpuSeconds / 2, cpuSeconds / 2],
    retransmits: 0,
  });
  return {
    idleRttMs: idle,
    loadedRttMs: loaded,
    runs: { up: run(mbps), down: run(mbps), parallel: run(mbps) },
  };
}

function result(id: string, rounds: RoundResult[], failures: string[] = []): ContenderResult {
  return { contender: { id, label: id }, rounds, failures, nodeMemory: null };
}

describe('bench:tunnel report', () => {
  it('medians over rounds, CPU per GB over all bytes, fastest idle ping', () => {
    const s = summarize(
      result('corridor-udp', [
        round(1000, 1, [0.5, 0.7], [2]),
        round(1400, 1, [0.6], [3]),
        round(800, 1, [0.4], [4]),
      ]),
    );
    expect(s.mbps.up).toEqual({ median: 1000, min: 800, max: 1400 });
    expect(s.idleRtt).toBeCloseTo(0.55);
    expect(s.idleRttMin).toBe(0.4);
    expect(s.loadedRtt).toBe(3);
    // 9 runs x 1 s over (1000 + 1400 + 800) * 3 * 1.25 MB
    expect(s.cpuPerGB).toBeCloseTo(9 / ((3200 * 3 * 1.25e6) / 1e9));
    expect(s.rounds).toBe(3);
  });

  it('goals: ratios of medians, RTT against the same transport, n/a without rounds', () => {
    const sums = [
      result('corridor-udp', [round(1300, 1, [0.5], [2])]),
      result('corridor-tcp', [round(200, 1, [0.9], [9])]),
      result('openvpn-udp-aes', [round(1000, 5, [0.3], [3])]),
      result('wireguard-go', [round(800, 5, [0.4], [5])]),
      result('openvpn-tcp', [], ['round 1: iperf3 -R via openvpn-tcp: Connection reset by peer']),
    ].map(summarize);
    const v = renderVerdicts(verdicts(sums));
    expect(v).toContain('MET  Corridor UDP >= 1.25x OpenVPN UDP (AES-256-GCM): client->node 1.30x');
    expect(v).toContain('MET  Corridor UDP >= 1.5x wireguard-go: client->node 1.63x');
    expect(v).toContain('NOT  (aim) Corridor UDP >= 1.5x OpenVPN UDP');
    expect(v).toContain('n/a  Corridor TCP >= 1.25x OpenVPN TCP: not measured in this run');
    expect(v).toContain('NOT  idle RTT through corridor-udp <= openvpn-udp-aes');
    expect(v).toContain('MET  loaded RTT through corridor-udp no worse than openvpn-udp-aes');
    expect(v).not.toContain('through corridor-tcp');
    expect(v).toContain('MET  corridor-udp: CPU per GB lower than every contender');
    const t = renderTables(sums);
    expect(t).toContain(
      'openvpn-tcp: round 1: iperf3 -R via openvpn-tcp: Connection reset by peer (not counted)',
    );
  });
});
