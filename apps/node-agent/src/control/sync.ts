/**
 * The agent's control loops against the controller:
 *   - heartbeat every `heartbeatSeconds`: version, load, live sessions with byte counts, and the
 *     sessions that ended since the last one (`ended`, with reasons). A controller that does not know
 *     `ended` yet (400) gets heartbeats without it from then on (the ended entries are dropped: the
 *     live list still stops naming them). The answer says whether signing keys changed.
 *   - revocations: a long poll (`?since=<cursor>&wait=<s>`) is the primary path, answered by the
 *     controller as soon as a revocation is recorded on any replica; each answer is applied at once and
 *     live sessions it covers are cut. Plain polling every `revocationPollSeconds` is the fallback,
 *     and the long poll is tried again later: after a controller that refuses `wait` (400; again after
 *     LONG_POLL_REPROBE_MS) or answers long polls at once (it ignores `wait`; again after
 *     LONG_POLL_REPROBE_MS), and while a busy controller refuses the poll (429/503; again after its
 *     Retry-After, at least 5 s). A heartbeat whose cursor differs from ours wakes a plain poll at once.
 *   - signing keys: refreshed when the heartbeat's version differs from the cached one, and at once
 *     when a ticket names a key the node does not know (`requestKeyRefresh`, at most once every
 *     KEY_REFRESH_MIN_INTERVAL_MS: strangers can send such tickets).
 * With the controller unreachable every loop retries with backoff (1 s doubling; 30 s at most for
 * heartbeats, REVOCATION_BACKOFF_MAX_MS for revocations so they catch up quickly) and the node keeps
 * admitting from its caches; it catches up on the first successful answer.
 */
import { PROTOCOL_VERSION } from '@corridor/protocol/control';
import type { Logger } from '../log.js';
import { ControllerError, type ControllerClient } from './controller-client.js';
import type { TrustStore } from './trust.js';
import type { Engine } from '../tunnel/engine.js';

/** A controller that did not serve the long poll gets another try this long after (plain polls meanwhile). */
export const LONG_POLL_REPROBE_MS = 60_000;
/** Least time between two signing-key fetches asked for by unknown key ids. */
export const KEY_REFRESH_MIN_INTERVAL_MS = 10_000;
/** Longest wait between revocation attempts while the controller is unreachable. */
export const REVOCATION_BACKOFF_MAX_MS = 5_000;

export interface SyncOptions {
  readonly heartbeatSeconds: number;
  readonly revocationWaitSeconds: number;
  readonly revocationPollSeconds: number;
  readonly agentVersion: string;
  /** Default LONG_POLL_REPROBE_MS (tests shorten it). */
  readonly longPollReprobeMs?: number;
  /** Least plain-polling time after a 429/503 to a long poll, ms (default 5000; tests shorten it). */
  readonly busyRetryMinMs?: number;
}

export interface SyncStats {
  heartbeatsOk: number;
  heartbeatsFailed: number;
  revocationPolls: number;
  revocationsFailed: number;
  /** true: the long poll is in use; false: plain polling (fallback); null: not known yet. */
  longPollSupported: boolean | null;
  /** Wall time of the last revocation answer that carried news. */
  lastRevocationAt: number | null;
  /** Revocation answers that carried news, by how they came. */
  newsByLongPoll: number;
  newsByPoll: number;
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
    lastRevocationAt: null,
    newsByLongPoll: 0,
    newsByPoll: 0,
    endedSupported: true,
    lastContactAt: null,
    controllerReachable: false,
    lastCutAt: null,
  };
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];
  private wakeRevocations: (() => void) | null = null;
  /** Wall ms before which revocations are polled plainly (the long poll did not work out). */
  private longPollResumeAt = 0;
  /** Wall ms of the last signing-key fetch started by requestKeyRefresh (-Infinity: none yet). */
  private keyRefreshAt = -Infinity;

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
      if (res.revocationsCursor !== this.trust.cursor) this.wakeRevocations?.();
      if (res.signingKeysVersion !== this.trust.keysVersion) {
        // The heartbeat was delivered: a failed key fetch must not put its ended sessions back (they
        // would be reported twice) nor count it as failed; the next heartbeat asks for the keys again.
        await this.refreshKeys().catch((err: Error) =>
          this.log.warn('signing key refresh failed; retried with the next heartbeat', { error: err }),
        );
      }
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

  /**
   * A ticket named an unknown signing key: fetch the keys now, unless that was done less than
   * KEY_REFRESH_MIN_INTERVAL_MS ago. Never throws (a failure is logged; heartbeats keep trying).
   */
  requestKeyRefresh(): void {
    const now = Date.now();
    if (this.abort.signal.aborted || now - this.keyRefreshAt < KEY_REFRESH_MIN_INTERVAL_MS) return;
    this.keyRefreshAt = now;
    this.refreshKeys().catch((err: Error) => this.log.debug('signing key refresh failed', { error: err }));
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

  private get reprobeMs(): number {
    return this.options.longPollReprobeMs ?? LONG_POLL_REPROBE_MS;
  }

  /** Plain polling until `ms` from now, then the long poll again. */
  private fallBackToPolling(ms: number, message: string, fields: Record<string, unknown>): void {
    this.longPollResumeAt = Date.now() + ms;
    if (this.stats.longPollSupported !== false) this.log.info(message, fields);
    this.stats.longPollSupported = false;
  }

  private async revocationLoop(): Promise<void> {
    const signal = this.abort.signal;
    let backoff = 1000;
    const plainMs = this.options.revocationPollSeconds * 1000;
    while (!signal.aborted) {
      const useWait =
        this.options.revocationWaitSeconds > 0 &&
        this.trust.cursor !== null &&
        Date.now() >= this.longPollResumeAt;
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
          this.stats.lastRevocationAt = Date.now();
          if (news > 0 && useWait) this.stats.newsByLongPoll++;
          else if (news > 0) this.stats.newsByPoll++;
          const cut = this.engine.applyRevocations();
          if (cut > 0) {
            this.stats.lastCutAt = Date.now();
            this.log.info('revocations applied', {
              tickets: delta.tickets.length,
              devices: delta.devices.length,
              users: delta.users.length,
              sessionsCut: cut,
              via: useWait ? 'longPoll' : 'poll',
            });
          }
        }
        const empty = news === 0 && !delta.reset;
        if (useWait && empty && Date.now() - started < 500) {
          // An empty answer right away to a long poll: this controller ignores `wait`.
          this.fallBackToPolling(
            this.reprobeMs,
            'controller answers revocation long polls at once; polling plainly',
            {
              everySeconds: this.options.revocationPollSeconds,
            },
          );
        } else if (useWait) {
          if (this.stats.longPollSupported !== true) this.log.info('revocations by long poll');
          this.stats.longPollSupported = true;
        }
        if (!useWait) await this.pause(plainMs, signal);
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof ControllerError && err.kind === 'http' && useWait) {
          if (err.status === 400) {
            this.fallBackToPolling(
              this.reprobeMs,
              'controller refuses revocation long polls; polling plainly',
              {
                everySeconds: this.options.revocationPollSeconds,
              },
            );
            continue;
          }
          if (err.status === 429 || err.status === 503) {
            // The controller holds too many long polls: poll plainly until it says to come back.
            const min = this.options.busyRetryMinMs ?? 5000;
            const ms = Math.max(min, (err.retryAfterS ?? 0) * 1000);
            this.fallBackToPolling(ms, 'controller is busy with long polls; polling plainly for a while', {
              status: err.status,
              seconds: ms / 1000,
            });
            continue;
          }
        }
        this.stats.revocationsFailed++;
        this.contact(!(err instanceof ControllerError && err.kind === 'unreachable'));
        this.log.debug('revocation poll failed', { error: err as Error });
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, REVOCATION_BACKOFF_MAX_MS);
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
