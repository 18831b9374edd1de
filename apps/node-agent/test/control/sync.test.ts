// The control loops against a scripted controller (the real controller's long poll is exercised in
// test/node-agent and bench:node): long poll first, plain polling as the fallback, heartbeats that
// report ended sessions with their reasons.
import { afterEach, describe, expect, it } from 'vitest';
import type {
  Heartbeat,
  HeartbeatResponse,
  RevocationList,
  SessionEnd,
  SessionReport,
} from '@corridor/protocol/control';
import { ControllerError, type ControllerClient } from '../../src/control/controller-client.js';
import { ControlSync } from '../../src/control/sync.js';
import { TrustStore } from '../../src/control/trust.js';
import type { Engine } from '../../src/tunnel/engine.js';
import { silentLogger } from '../../src/log.js';

const T1 = '11111111-1111-4111-8111-111111111111';

interface Call {
  since: string | null;
  wait: number;
}

/** A controller script: `revocations` answers are taken from `answers` in order (then: wait, empty). */
class FakeController {
  calls: Call[] = [];
  heartbeats: Heartbeat[] = [];
  answers: ((c: Call) => Promise<RevocationList>)[] = [];
  heartbeatError: Error | null = null;
  cursor = 'c1';
  /** How long an unscripted long poll is held before an empty answer (the controller's `wait`). */
  holdMs: number | null = null;

  revocations(since: string | null, wait: number, signal?: AbortSignal): Promise<RevocationList> {
    const c = { since, wait };
    this.calls.push(c);
    const next = this.answers.shift();
    if (next) return next(c);
    // Default: a long poll holds until aborted (or answers at once without wait).
    if (wait === 0 || since === null) return Promise.resolve(this.list([]));
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(this.list([])), this.holdMs ?? wait * 1000);
      signal?.addEventListener('abort', () => {
        clearTimeout(t);
        resolve(this.list([]));
      });
    });
  }

  list(tickets: string[], reset = false): RevocationList {
    if (tickets.length > 0) this.cursor = `c${Number(this.cursor.slice(1)) + 1}`;
    return { cursor: this.cursor, reset, tickets, devices: [], users: [] };
  }

  heartbeat(hb: Heartbeat): Promise<HeartbeatResponse> {
    if (this.heartbeatError) return Promise.reject(this.heartbeatError);
    this.heartbeats.push(hb);
    return Promise.resolve({ revocationsCursor: this.cursor, signingKeysVersion: this.signingKeysVersion });
  }

  signingKeysVersion = 1;
  signingKeys: () => Promise<{ version: number; keys: [] }> = () => Promise.resolve({ version: 1, keys: [] });
}

class FakeEngine {
  cut = 0;
  ended: SessionEnd[] = [];
  sessions = new Set();
  load = 0;
  constructor(private readonly trust: TrustStore) {}
  applyRevocations(): number {
    if (this.trust.isRevoked(T1, '', '')) this.cut++;
    return this.trust.isRevoked(T1, '', '') ? 1 : 0;
  }
  takeEnded(): SessionEnd[] {
    const e = this.ended;
    this.ended = [];
    return e;
  }
  putBack(e: SessionEnd[]): void {
    this.ended = [...e, ...this.ended];
  }
  sessionReports(): SessionReport[] {
    return [];
  }
}

const syncs: ControlSync[] = [];
afterEach(async () => {
  for (const s of syncs.splice(0)) await s.stop();
});

function setup(options: Partial<ConstructorParameters<typeof ControlSync>[3]> = {}) {
  const ctl = new FakeController();
  const trust = new TrustStore(null);
  trust.setKeys([], 1);
  const engine = new FakeEngine(trust);
  const sync = new ControlSync(
    ctl as unknown as ControllerClient,
    trust,
    engine as unknown as Engine,
    {
      heartbeatSeconds: 60,
      revocationWaitSeconds: 25,
      revocationPollSeconds: 1,
      agentVersion: '0.1.0',
      ...options,
    },
    silentLogger,
  );
  syncs.push(sync);
  return { ctl, trust, engine, sync };
}

const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('revocation sync', () => {
  it('takes a snapshot, then long-polls; a revocation recorded during the poll cuts at once', async () => {
    const { ctl, engine, sync } = setup();
    let release!: (l: RevocationList) => void;
    ctl.answers.push(
      () => Promise.resolve(ctl.list([], true)), // snapshot (no cursor yet)
      () => new Promise((r) => (release = r)), // the long poll, held
    );
    sync.start();
    await until(() => ctl.calls.length === 2);
    expect(ctl.calls).toEqual([
      { since: null, wait: 0 },
      { since: 'c1', wait: 25 },
    ]);
    const t0 = Date.now();
    release(ctl.list([T1]));
    await until(() => engine.cut === 1);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(sync.stats.longPollSupported).toBe(true);
    await until(() => ctl.calls.length === 3);
    expect(ctl.calls[2]).toEqual({ since: 'c2', wait: 25 }); // straight back into the long poll
  });

  it('a controller that refuses `wait` (400) is polled plainly, and the long poll is tried again later', async () => {
    const { ctl, sync } = setup({ longPollReprobeMs: 300 });
    ctl.holdMs = 600;
    ctl.answers.push(
      () => Promise.resolve(ctl.list([], true)),
      () => Promise.reject(new ControllerError('http', 'bad wait', 400, 'CORRIDOR_ERR_VALIDATION')),
    );
    sync.start();
    await until(() => ctl.calls.some((c) => c.wait === 0 && c.since === 'c1'));
    expect(sync.stats.longPollSupported).toBe(false);
    await until(() => sync.stats.longPollSupported === true, 5000);
    expect(ctl.calls.filter((c) => c.wait === 25).length).toBeGreaterThanOrEqual(2);
  });

  it('a controller that answers long polls at once (ignores `wait`) is polled plainly', async () => {
    const { ctl, sync } = setup({ longPollReprobeMs: 60_000 });
    ctl.answers.push(
      () => Promise.resolve(ctl.list([], true)),
      () => Promise.resolve(ctl.list([])),
    );
    sync.start();
    await until(() => ctl.calls.length >= 3);
    expect(sync.stats.longPollSupported).toBe(false);
    expect(ctl.calls[2]).toEqual({ since: 'c1', wait: 0 });
  });

  it('a busy controller (503 + Retry-After) gets plain polls until then, then the long poll again', async () => {
    const { ctl, sync } = setup({ busyRetryMinMs: 100 });
    ctl.answers.push(
      () => Promise.resolve(ctl.list([], true)),
      () => Promise.reject(new ControllerError('http', 'busy', 503, 'CORRIDOR_ERR_BUSY', 0)),
    );
    sync.start();
    await until(() => ctl.calls.length >= 3);
    expect(ctl.calls[2]).toEqual({ since: 'c1', wait: 0 });
    await until(() => ctl.calls.filter((c) => c.wait === 25).length >= 2, 5000);
  });

  it('keeps trying while the controller is unreachable and catches up when it returns', async () => {
    const { ctl, engine, sync } = setup();
    const down = () => Promise.reject(new ControllerError('unreachable', 'ECONNREFUSED'));
    ctl.answers.push(down, down, () => Promise.resolve(ctl.list([T1], true)));
    sync.start();
    await until(() => engine.cut === 1, 8000);
    expect(sync.stats.revocationsFailed).toBe(2);
    expect(sync.stats.controllerReachable).toBe(true);
  });
});

describe('heartbeats', () => {
  const end = (reason: SessionEnd['reason']): SessionEnd => ({
    ticketId: T1,
    deviceId: T1,
    userId: T1,
    rxBytes: 1,
    txBytes: 2,
    connectedAt: new Date(0).toISOString(),
    endedAt: new Date(1000).toISOString(),
    reason,
  });

  it('report ended sessions with their reasons once; a failed heartbeat keeps them for the next', async () => {
    const { ctl, engine, sync } = setup();
    engine.ended = [end('revoked'), end('quotaExceeded')];
    ctl.heartbeatError = new ControllerError('unreachable', 'ECONNREFUSED');
    await expect(sync.heartbeat()).rejects.toThrow();
    ctl.heartbeatError = null;
    engine.ended.push(end('nodeShutdown'));
    await sync.heartbeat();
    expect(ctl.heartbeats[0]!.ended?.map((e) => e.reason)).toEqual([
      'revoked',
      'quotaExceeded',
      'nodeShutdown',
    ]);
    await sync.heartbeat();
    expect(ctl.heartbeats[1]!.ended).toBeUndefined();
  });

  it('a heartbeat the controller accepted counts as sent even when the signing-key fetch after it fails', async () => {
    const { ctl, engine, sync } = setup();
    engine.ended = [end('revoked')];
    ctl.signingKeysVersion = 2;
    ctl.signingKeys = () => Promise.reject(new ControllerError('unreachable', 'ECONNRESET'));
    await sync.heartbeat();
    expect(sync.stats.heartbeatsOk).toBe(1);
    expect(sync.stats.heartbeatsFailed).toBe(0);
    await sync.heartbeat();
    // The ended session was reported once, not again with the next heartbeat.
    expect(ctl.heartbeats.map((h) => h.ended?.length ?? 0)).toEqual([1, 0]);
  });
});
