/**
 * One direction-pair of transport keys from one handshake, with its indexes, counters and replay
 * window. Owns its key buffers; `wipe()` zeroes them, after which `alive` is false and every
 * seal/open through it fails with 'expired'.
 */
import { KEY_BYTES } from '../handshake/wire.js';
import { wipeBytes } from '../crypto/primitives.js';
import { REJECT_AFTER_MESSAGES_NUMBER } from '../constants.js';
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

export class Keypair {
  readonly sendKey = Buffer.alloc(KEY_BYTES);
  readonly receiveKey = Buffer.alloc(KEY_BYTES);
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly createdAt: number;
  readonly isInitiator: boolean;
  readonly rejectAfterMessages: number;
  /** Next counter to send. */
  sendCounter = 0;
  readonly replay: ReplayWindow;
  /** Scratch nonce buffers (4 zero bytes + counter), reused for every packet. */
  readonly sendNonce = Buffer.alloc(12);
  readonly receiveNonce = Buffer.alloc(12);
  alive = true;

  constructor(init: KeypairInit) {
    this.sendKey.set(init.sendKey);
    this.receiveKey.set(init.receiveKey);
    this.localIndex = init.localIndex;
    this.remoteIndex = init.remoteIndex;
    this.createdAt = init.createdAt;
    this.isInitiator = init.isInitiator;
    this.rejectAfterMessages = init.rejectAfterMessages ?? REJECT_AFTER_MESSAGES_NUMBER;
    this.replay = new ReplayWindow(this.rejectAfterMessages);
  }

  wipe(): void {
    wipeBytes(this.sendKey);
    wipeBytes(this.receiveKey);
    this.alive = false;
  }
}
