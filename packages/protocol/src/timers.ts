/**
 * Sans-IO timer logic of a tunnel session (boringtun `noise/timers.rs`, WireGuard paper section 6):
 * no setTimeout per peer. The session records events (`on*` methods) with the caller's monotonic
 * clock, and `nextTimerAction(now)` says what is due. One timer loop in the agent or client calls
 * `updateTimers(now)` on every tunnel about every 100 ms to 1 s.
 *
 * Rules (initiator = client, responder = node; only the initiator starts handshakes):
 * 1. Handshake in progress: retransmit (fresh initiation) REKEY_TIMEOUT_MS plus the jitter drawn for
 *    the last initiation (0..REKEY_TIMEOUT_JITTER_MAX_MS - 1) after it; give up after
 *    REKEY_ATTEMPT_TIME_MS ('handshakeTimeout').
 * 2. Session dead: no successful handshake for REJECT_AFTER_TIME_MS * 3 -> wipe everything.
 * 3. Rekey (initiator): current keypair older than REKEY_AFTER_TIME_MS or with
 *    REKEY_AFTER_MESSAGES sent — idle or not. Unlike WireGuard, where either side may initiate,
 *    only the client can start a handshake here, so it keeps the keys fresh for as long as it is
 *    connected; otherwise an idle client would become unreachable for the node once the keys aged
 *    out (REJECT_AFTER_TIME_MS) until it sent something itself.
 * 4. Dead peer (initiator): data sent but nothing received for KEEPALIVE_TIMEOUT_MS +
 *    REKEY_TIMEOUT_MS -> new handshake.
 * 5. Keepalive: data received but nothing sent for KEEPALIVE_TIMEOUT_MS -> empty data message.
 * 6. Persistent keepalive: nothing sent for the configured interval -> empty data message.
 */
import {
  KEEPALIVE_TIMEOUT_MS,
  REKEY_AFTER_TIME_MS,
  REKEY_ATTEMPT_TIME_MS,
  REKEY_TIMEOUT_MS,
  SESSION_DEAD_AFTER_MS,
} from './constants.js';

export type TimerAction =
  'none' | 'sendKeepalive' | 'initiateHandshake' | 'retransmitHandshake' | 'handshakeTimeout' | 'sessionDead';

const NEVER = -Infinity;

export class TimerState {
  /** Any message sent (data, keepalive, handshake). */
  lastSentAt = NEVER;
  /** Non-empty data sent. */
  lastDataSentAt = NEVER;
  /** Any authenticated message received. */
  lastReceivedAt = NEVER;
  /** Non-empty authenticated data received. */
  lastDataReceivedAt = NEVER;
  /** Last initiation sent, and the first one of the attempt in progress (NEVER when idle). */
  lastInitiationSentAt = NEVER;
  /** Extra wait before retransmitting the last initiation (ms), drawn by the caller per initiation. */
  retransmitJitterMs = 0;
  attemptStartedAt = NEVER;
  /** Last completed handshake (keypair creation). */
  lastHandshakeAt = NEVER;
  /** Armed by receiving data, disarmed by sending anything: when data came in (NEVER = disarmed). */
  keepaliveArmedAt = NEVER;
  /** Armed by the first data sent after the last authenticated receive (NEVER = disarmed). */
  unansweredSince = NEVER;
  /** 0 = off. */
  persistentKeepaliveMs = 0;
  /** Set once the session died; every later evaluation returns 'none'. */
  dead = false;

  onDataSent(now: number, empty: boolean): void {
    this.lastSentAt = now;
    this.keepaliveArmedAt = NEVER;
    if (!empty) {
      this.lastDataSentAt = now;
      if (this.unansweredSince === NEVER) this.unansweredSince = now;
    }
  }

  onAuthenticatedReceive(now: number, empty: boolean): void {
    this.lastReceivedAt = now;
    this.unansweredSince = NEVER;
    if (!empty) {
      this.lastDataReceivedAt = now;
      if (this.keepaliveArmedAt === NEVER) this.keepaliveArmedAt = now;
    }
  }

  /** `jitterMs`: 0..REKEY_TIMEOUT_JITTER_MAX_MS - 1, added to REKEY_TIMEOUT_MS for this initiation. */
  onInitiationSent(now: number, jitterMs = 0): void {
    this.dead = false;
    this.lastSentAt = now;
    this.unansweredSince = NEVER;
    this.lastInitiationSentAt = now;
    this.retransmitJitterMs = jitterMs;
    if (this.attemptStartedAt === NEVER) this.attemptStartedAt = now;
  }

  onHandshakeComplete(now: number): void {
    this.lastHandshakeAt = now;
    this.lastReceivedAt = now;
    this.unansweredSince = NEVER;
    this.attemptStartedAt = NEVER;
    this.dead = false;
  }

  handshakeInProgress(): boolean {
    return this.attemptStartedAt !== NEVER;
  }

  abandonAttempt(): void {
    this.attemptStartedAt = NEVER;
  }

  /** The session died: forget all history; a later initiation revives it. */
  markDead(): void {
    this.lastSentAt = this.lastDataSentAt = this.lastReceivedAt = this.lastDataReceivedAt = NEVER;
    this.lastInitiationSentAt = this.attemptStartedAt = this.lastHandshakeAt = NEVER;
    this.keepaliveArmedAt = this.unansweredSince = NEVER;
    this.dead = true;
  }
}

export interface TimerInputs {
  readonly isInitiator: boolean;
  /** Creation time of the current (confirmed) keypair, or null when there is none. */
  readonly currentKeypairCreatedAt: number | null;
  /** Whether the current keypair was created by our own initiation. */
  readonly currentKeypairIsOurs: boolean;
  /** Whether the current keypair has reached the rekey message count. */
  readonly currentKeypairNeedsRekeyByCount: boolean;
  /** Whether the current keypair can still send (alive, young enough). */
  readonly canSend: boolean;
}

/** What is due at `now`. Pure: the caller applies the action and records the resulting events. */
export function nextTimerAction(t: TimerState, inputs: TimerInputs, now: number): TimerAction {
  if (t.dead) return 'none';
  const reference = t.lastHandshakeAt !== NEVER ? t.lastHandshakeAt : t.attemptStartedAt;
  if (reference !== NEVER && now - reference >= SESSION_DEAD_AFTER_MS) return 'sessionDead';

  if (inputs.isInitiator && t.handshakeInProgress()) {
    if (now - t.attemptStartedAt >= REKEY_ATTEMPT_TIME_MS) return 'handshakeTimeout';
    if (now - t.lastInitiationSentAt >= REKEY_TIMEOUT_MS + t.retransmitJitterMs) return 'retransmitHandshake';
  } else if (inputs.isInitiator) {
    const created = inputs.currentKeypairCreatedAt;
    if (
      created !== null &&
      inputs.currentKeypairIsOurs &&
      (now - created >= REKEY_AFTER_TIME_MS || inputs.currentKeypairNeedsRekeyByCount)
    ) {
      return 'initiateHandshake';
    }
    if (t.unansweredSince !== NEVER && now - t.unansweredSince >= KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS) {
      return 'initiateHandshake';
    }
  }

  if (!inputs.canSend) return 'none';
  if (t.keepaliveArmedAt !== NEVER && now - t.keepaliveArmedAt >= KEEPALIVE_TIMEOUT_MS)
    return 'sendKeepalive';
  if (t.persistentKeepaliveMs > 0 && now - t.lastSentAt >= t.persistentKeepaliveMs) return 'sendKeepalive';
  return 'none';
}
