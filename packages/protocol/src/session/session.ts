/**
 * The keypairs of one client<->node association and its timer state (WireGuard's peer keypairs):
 *
 * - current: used to send; previous: still accepted for receiving during a rekey;
 * - next (responder only): derived when the node sent its response; it becomes current when the
 *   initiator first uses it, which confirms the initiator got the response (WireGuard semantics).
 *
 * Keypairs are wiped when replaced, expired (REJECT_AFTER_TIME_MS) or when the session closes; the
 * `onRetire` hook lets the owner drop their receiver indexes from its index table (one function per
 * owner, shared by all its sessions: no closure per session).
 *
 * On the responder (the node, which holds one session per client), `previous` only serves client
 * packets that were already in flight when the client switched keys — it switches on receiving the
 * response — so it is dropped PREVIOUS_KEYPAIR_GRACE_MS after the current keypair was made instead of
 * living out its REJECT_AFTER_TIME_MS: an idle session then holds one keypair between rekeys, not two
 * for a third of the time. The initiator keeps its `previous` for the full time: the node goes on
 * sending with the old keys until the client's confirmation reaches it, which a lost keepalive can
 * delay by up to a keepalive interval.
 */
import { REJECT_AFTER_TIME_MS, REKEY_AFTER_MESSAGES_NUMBER } from '../constants.js';
import { TimerState, nextTimerAction, type TimerAction } from '../timers.js';
import type { Keypair } from './keypair.js';

/** Responder: how long after the current keypair was made the previous one is still accepted (in-flight packets). */
export const PREVIOUS_KEYPAIR_GRACE_MS = 10_000;

export interface SessionLimits {
  /** Rekey after this many messages sent with one keypair. */
  readonly rekeyAfterMessages: number;
  /** Refuse to send or accept after this many messages with one keypair. */
  readonly rejectAfterMessages?: number;
}

export class Session {
  current: Keypair | null = null;
  previous: Keypair | null = null;
  next: Keypair | null = null;
  readonly timers = new TimerState();
  closed = false;

  constructor(
    readonly isInitiator: boolean,
    private readonly onRetire: (kp: Keypair) => void,
    readonly limits: SessionLimits = { rekeyAfterMessages: REKEY_AFTER_MESSAGES_NUMBER },
  ) {}

  private retire(kp: Keypair | null): void {
    if (kp === null) return;
    kp.wipe();
    this.onRetire(kp);
  }

  /** Initiator: a response was consumed; the new keypair is current at once. */
  installAsInitiator(kp: Keypair, now: number): void {
    this.retire(this.previous);
    this.retire(this.next);
    this.next = null;
    this.previous = this.current;
    this.current = kp;
    this.timers.onHandshakeComplete(now);
  }

  /** Responder: a response was sent; the new keypair waits in `next` for the initiator's first use. */
  installAsResponder(kp: Keypair, now: number): void {
    this.retire(this.next);
    this.next = kp;
    this.timers.onHandshakeComplete(now);
  }

  /** Called after a packet authenticated under `kp`: promotes `next` on its first use. */
  confirm(kp: Keypair): void {
    if (kp !== this.next) return;
    this.retire(this.previous);
    this.previous = this.current;
    this.current = kp;
    this.next = null;
  }

  /** Whether `kp` may still be used at `now` (alive, younger than REJECT_AFTER_TIME_MS). */
  usable(kp: Keypair, now: number): boolean {
    return kp.alive && now - kp.createdAt < REJECT_AFTER_TIME_MS;
  }

  /** The keypair to send with, or null. */
  sendingKeypair(now: number): Keypair | null {
    const kp = this.current;
    return kp !== null && this.usable(kp, now) && kp.sendCounter < kp.rejectAfterMessages ? kp : null;
  }

  /** Wipes keypairs that can no longer be used. */
  expireKeypairs(now: number): void {
    if (
      this.previous &&
      (!this.usable(this.previous, now) ||
        (!this.isInitiator &&
          this.current !== null &&
          now - this.current.createdAt >= PREVIOUS_KEYPAIR_GRACE_MS))
    ) {
      this.retire(this.previous);
      this.previous = null;
    }
    if (this.next && !this.usable(this.next, now)) {
      this.retire(this.next);
      this.next = null;
    }
    if (this.current && !this.usable(this.current, now)) {
      this.retire(this.current);
      this.current = null;
    }
  }

  timerAction(now: number): TimerAction {
    this.expireKeypairs(now);
    const cur = this.current;
    return nextTimerAction(
      this.timers,
      {
        isInitiator: this.isInitiator,
        currentKeypairCreatedAt: cur ? cur.createdAt : null,
        currentKeypairIsOurs: cur ? cur.isInitiator : false,
        currentKeypairNeedsRekeyByCount: cur ? cur.sendCounter >= this.limits.rekeyAfterMessages : false,
        canSend: this.sendingKeypair(now) !== null,
      },
      now,
    );
  }

  /** Wipes every keypair. The session can be revived by a new handshake (`closed` stays false). */
  wipeKeypairs(): void {
    this.retire(this.previous);
    this.retire(this.current);
    this.retire(this.next);
    this.previous = this.current = this.next = null;
  }

  /** Final: wipes everything; later operations fail with 'closed'. */
  close(): void {
    this.wipeKeypairs();
    this.closed = true;
    this.timers.markDead();
  }
}
