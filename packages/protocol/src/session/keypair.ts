/**
 * One direction-pair of transport keys from one handshake, with its indexes, counters and replay
 * window. Its two keys live in one 64-byte slot of the shared KeySlots (no ArrayBuffer of its own);
 * the AEAD nonces are per-call scratch in transport.ts. `wipe()` zeroes and releases the slot, points
 * both key views at a shared zero key, and sets `alive` false, after which every seal/open through it
 * fails with 'expired'. Call `wipe()` exactly when the keypair is dropped (Session does).
 */
import { KEY_BYTES } from '../handshake/wire.js';
import { REJECT_AFTER_MESSAGES_NUMBER } from '../constants.js';
import { keySlots } from './key-slots.js';
import { ReplayWindow } from './replay-window.js';

export interface KeypairInit {
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
  /** Our index: peers put it in the receiver field of messages to us. */
  readonly localIndex: number;
  /** Their index: we put it in the receiver field of messages to them. */
  readonly remoteIndex: number;
  /** Monotonic ms at creation. */
  readonly createdAt: number;
  /** True on the side that sent the initiation (only that side rekeys by time). */
  readonly isInitiator: boolean;
  /** Overrides of the message-count limit (tests). */
  readonly rejectAfterMessages?: number;
}

/** What a wiped keypair's key views point to (never written). */
const WIPED_KEY = Buffer.alloc(KEY_BYTES);

export class Keypair {
  /** Views of this keypair's key slot; WIPED_KEY after `wipe()`. */
  sendKey: Buffer;
  receiveKey: Buffer;
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly createdAt: number;
  readonly isInitiator: boolean;
  readonly rejectAfterMessages: number;
  /** Next counter to send. */
  sendCounter = 0;
  readonly replay: ReplayWindow;
  alive = true;
  private readonly slot: number;

  constructor(init: KeypairInit) {
    this.slot = keySlots.allocate();
    this.sendKey = keySlots.view(this.slot, 0, KEY_BYTES);
    this.receiveKey = keySlots.view(this.slot, KEY_BYTES, KEY_BYTES);
    this.sendKey.set(init.sendKey);
    this.receiveKey.set(init.receiveKey);
    this.localIndex = init.localIndex;
    this.remoteIndex = init.remoteIndex;
    this.createdAt = init.createdAt;
    this.isInitiator = init.isInitiator;
    this.rejectAfterMessages = init.rejectAfterMessages ?? REJECT_AFTER_MESSAGES_NUMBER;
    this.replay = new ReplayWindow(this.rejectAfterMessages);
  }

  /** Zeroes the keys and gives the slot back. Idempotent. */
  wipe(): void {
    if (!this.alive) return;
    this.alive = false;
    this.sendKey = WIPED_KEY;
    this.receiveKey = WIPED_KEY;
    keySlots.release(this.slot);
  }
}
