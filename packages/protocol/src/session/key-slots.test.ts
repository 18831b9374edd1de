import { describe, expect, it } from 'vitest';
import { KeySlots, KEY_SLOT_BYTES, keySlots } from './key-slots.js';
import { Keypair } from './keypair.js';

describe('KeySlots', () => {
  it('hands out distinct slots, zeroes released ones and reuses them', () => {
    const slots = new KeySlots();
    const a = slots.allocate();
    const b = slots.allocate();
    expect(a).not.toBe(b);
    slots.view(a, 0, KEY_SLOT_BYTES).fill(7);
    expect(slots.view(b, 0, KEY_SLOT_BYTES).every((x) => x === 0)).toBe(true);
    slots.release(a);
    expect(slots.view(a, 0, KEY_SLOT_BYTES).every((x) => x === 0)).toBe(true);
    expect(slots.allocate()).toBe(a);
    expect(slots.inUse).toBe(2);
  });

  it('grows past one chunk', () => {
    const slots = new KeySlots();
    const ids = new Set(Array.from({ length: 600 }, () => slots.allocate()));
    expect(ids.size).toBe(600);
    expect(slots.inUse).toBe(600);
  });
});

describe('Keypair key storage', () => {
  const init = (fill: number) => ({
    sendKey: Buffer.alloc(32, fill),
    receiveKey: Buffer.alloc(32, fill + 1),
    localIndex: 1,
    remoteIndex: 2,
    createdAt: 0,
    isInitiator: true,
  });

  it('a wiped keypair gives its slot back zeroed and can no longer reach it', () => {
    const before = keySlots.inUse;
    const a = new Keypair(init(1));
    expect(keySlots.inUse).toBe(before + 1);
    const sendView = a.sendKey;
    expect(sendView.every((x) => x === 1)).toBe(true);
    a.wipe();
    a.wipe(); // idempotent: the slot is released once
    expect(keySlots.inUse).toBe(before);
    expect(sendView.every((x) => x === 0)).toBe(true);
    // The next keypair takes the slot; the wiped one still sees only zeros.
    const b = new Keypair(init(9));
    expect(sendView.every((x) => x === 9)).toBe(true);
    expect(a.sendKey.every((x) => x === 0)).toBe(true);
    expect(a.receiveKey.every((x) => x === 0)).toBe(true);
    expect(a.alive).toBe(false);
    b.wipe();
  });
});
