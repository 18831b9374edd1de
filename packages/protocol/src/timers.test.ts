import { describe, expect, it } from 'vitest';
import { REKEY_AFTER_TIME_MS } from './constants.js';
import { nextTimerAction, TimerState, type TimerInputs } from './timers.js';

const T0 = 1_000_000;

function established(isInitiator: boolean): TimerInputs {
  return {
    isInitiator,
    currentKeypairCreatedAt: T0,
    currentKeypairIsOurs: isInitiator,
    currentKeypairNeedsRekeyByCount: false,
    canSend: true,
  };
}

describe('timer rules', () => {
  it('the initiator rekeys an idle session by time, without persistent keepalive (the node cannot)', () => {
    const t = new TimerState();
    t.onHandshakeComplete(T0);
    t.onDataSent(T0, true); // only the confirming keepalive, no data either way
    expect(t.persistentKeepaliveMs).toBe(0);
    expect(nextTimerAction(t, established(true), T0 + REKEY_AFTER_TIME_MS - 1)).toBe('none');
    expect(nextTimerAction(t, established(true), T0 + REKEY_AFTER_TIME_MS)).toBe('initiateHandshake');
    // The responder never starts a handshake.
    const r = new TimerState();
    r.onHandshakeComplete(T0);
    expect(nextTimerAction(r, established(false), T0 + REKEY_AFTER_TIME_MS)).toBe('none');
  });
});
