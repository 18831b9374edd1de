/**
 * The agent's control loops against the controller:
 *   - heartbeat every `heartbeatSeconds`: version, load, live sessions with byte counts, and the
 *     sessions that ended since the last one (`ended`, with reasons). A controller that does not know
 *     `ended` yet (400) gets heartbeats without it from then on (the ended entries are dropped: the
 *     live list still stops naming them). The answer says whether signing keys changed.
 *   - revocations: a long poll (`?since=<cursor>&wait=<s>`), answered by the controller as soon as a
 *     revocation is recorded; each answer is applied at once and live sessions it covers are cut. A
 *     controller that refuses `wait` (400) or answers long polls immediately is polled plainly every
 *     `revocationPollSeconds` instead.
 *   - signing keys: refreshed when the heartbeat's version differs from the cached one.
 * With the controller unreachable every loop retries with backoff (1 s doubling to 30 s) and the node
 * keeps admitting from its caches; it catches up on the first successful answer.
 */
import { PROTOCOL_VERSION } from '@corridor/protocol/control';
import type { Logger } from '../log.js';
import { ControllerError, type ControllerClient } from './controller-client.js';
import type { TrustStore } from './trust.js';
import type { Engine } from '../tunnel/engine.js';

export interface SyncOptions {
  readonly heartbeatSeconds: number;
  readonly revocationWaitSeconds: number;
  readonly revocationPollSeconds: number;
  readonly agentVersion: string;
}

export interface SyncStats {
  heartbeatsOk: number;
  heartbeatsFailed: number;
  revocationPolls: number;
  revocationsFailed: number;
  longPollSupported: boolean | null;
  endedSupported: boolean;
  lastContactAt: number | null;
  controllerReachable: boolean;
  /** Wall time of the last revocation answer that cut sessions, for the status document. */
  lastCutAt: number | null;
}

/** Sleeps `ms` or until `signal` aborts; leaves no listener behind either way. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export class ControlSync {
  readonly stats: SyncStats = {
    heartbeatsOk: 0,
    heartbeatsFailed: 0,
    revocationPolls: 0,
    revocationsFailed: 0,
    longPollSupported: null,
    endedSupported: true,
    lastContactAt: null,
    controllerReachable: false,
    lastCutAt: null,
  };
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];
  private wakeRevocations: (() => void) | null = null;

  constructor(
    private readonly client: ControllerClient,
    private readonly trust: TrustStore,
    private readonly engine: Engine,
    private readonly options: SyncOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.loops = [this.heartbeatLoop(), this.revocationLoop()];
  }

  private contact(ok: boolean): void {
    if (ok) {
      if (!this.stats.controllerReachable) this.log.info('controller reachable');
      this.stats.controllerReachable = true;
      this.stats.lastContactAt = Date.now();
    } else if (this.stats.controllerReachable) {
      this.stats.controllerReachable = false;
      this.log.warn('controller unreachable; admitting from the cached signing keys and revocations');
    }
  }

  /** One heartbeat; also used for the final one at shutdown. */
  async heartbeat(timeoutMs?: number): Promise<void> {
    const ended = this.engine.takeEnded();
    const body = {
      protocolVersion: PROTOCOL_VERSION,
      agentVersion: this.options.agentVersion,
      load: this.engine.load,
      activeSessions: this.engine.sessions.size,
      sessions: this.engine.sessionReports(),
      ...(this.stats.endedSupported && ended.length > 0 ? { ended } : {}),
    };
    try {
      const res = await this.client.heartbeat(body, timeoutMs);
      this.stats.heartbeatsOk++;
      this.contact(true);
      if (res.signingKeysVersion !== this.trust.keysVersion) await this.refreshKeys();
      if (res.revocationsCursor !== this.trust.cursor) this.wakeRevocations?.();
    } catch (err) {
      if (
        err instanceof ControllerError &&
        err.kind === 'http' &&
        err.status === 400 &&
        body.ended !== undefined
      ) {
        this.stats.endedSupported = false;
        this.log.warn(
          'controller does not accept session ends in heartbeats yet; reporting live sessions only',
        );
        return this.heartbeat(timeoutMs);
      }
      if (this.stats.endedSupported) this.engine.putBack(ended);
      this.stats.heartbeatsFailed++;
      this.contact(!(err instanceof ControllerError && err.kind === 'unreachable'));
      throw err;
    }
  }

  async refreshKeys(): Promise<void> {
    const list = await this.client.signingKeys();
    this.trust.setKeys(list.keys, list.version);
    this.log.info('signing keys refreshed', { version: list.version, keys: list.keys.length });
  }

  private async heartbeatLoop(): Promise<void> {
    const signal = this.abort.signal;
    let backoff = 1000;
    while (!signal.aborted) {
      try {
        await this.heartbeat();
        backoff = 1000;
        await sleep(this.options.heartbeatSeconds * 1000, signal);
      } catch (err) {
        this.log.debug('heartbeat failed', { error: err as Error });
        await sleep(Math.min(backoff, this.options.heartbeatSeconds * 1000), signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  private async revocationLoop(): Promise<void> {
    const signal = this.abort.signal;
    let backoff = 1000;
    const plainMs = this.options.revocationPollSeconds * 1000;
    while (!signal.aborted) {
      const useWait =
        this.stats.longPollSupported !== false &&
        this.options.revocationWaitSeconds > 0 &&
        this.trust.cursor !== null;
      const started = Date.now();
      try {
        const list = await this.client.revocations(
          this.trust.cursor,
          useWait ? this.options.revocationWaitSeconds : 0,
          signal,
        );
        this.stats.revocationPolls++;
        this.contact(true);
        backoff = 1000;
        const delta = this.trust.applyRevocations(list);
        const news = delta.tickets.length + delta.devices.length + delta.users.length;
        if (news > 0 || delta.reset) {
          const cut = this.engine.applyRevocations();
          if (cut > 0) {
            this.stats.lastCutAt = Date.now();
            this.log.info('revocations applied', {
              tickets: delta.tickets.length,
              devices: delta.devices.length,
              users: delta.users.length,
              sessionsCut: cut,
            });
          }
        }
        const elapsed = Date.now() - started;
        const empty = news === 0 && !delta.reset;
        if (useWait && empty && elapsed < 500) {
          // An empty answer right away to a long poll: the controller ignores `wait`.
          if (this.stats.longPollSupported === null)
            this.log.info('controller answers revocation long polls at once; polling plainly');
          this.stats.longPollSupported = false;
        } else if (useWait && empty) this.stats.longPollSupported = true;
        if (!useWait || (empty && this.stats.longPollSupported === false)) await this.pause(plainMs, signal);
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof ControllerError && err.kind === 'http' && err.status === 400 && useWait) {
          this.stats.longPollSupported = false;
          this.log.info('controller refuses revocation long polls; polling plainly', {
            everySeconds: this.options.revocationPollSeconds,
          });
          continue;
        }
        this.stats.revocationsFailed++;
        this.contact(!(err instanceof ControllerError && err.kind === 'unreachable'));
        this.log.debug('revocation poll failed', { error: err as Error });
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  /** Sleeps `ms` or until a heartbeat says the revocation cursor moved. */
  private pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.wakeRevocations = null;
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakeRevocations = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
  }
}
