/**
 * mac1 / mac2 and cookies (WireGuard paper section 5.4.4, 5.4.7), with keyed BLAKE2b-128 as MAC.
 *
 * - mac1 = MAC(HASH(LABEL_MAC1 || Spub_receiver), msg[0 : mac1 offset]). Anyone who knows the
 *   receiver's static public key can produce it, so a node drops traffic from strangers before any
 *   Diffie-Hellman.
 * - cookie = MAC(R, source) where R is a random secret rotated every COOKIE_REFRESH_TIME_MS and
 *   `source` is caller-encoded address bytes (e.g. IP || port). Under load the node answers an
 *   initiation with a cookie reply: XChaCha20-Poly1305(HASH(LABEL_COOKIE || Spub_node), nonce,
 *   cookie, AD = mac1 of the initiation), and only accepts initiations with a valid
 *   mac2 = MAC(cookie, msg[0 : mac2 offset]).
 *
 * Clocks are injected (`now`, monotonic ms). Nothing here does I/O.
 */
import {
  equalConstantTime,
  hashTo,
  isAllZero,
  mac,
  randomBytes,
  wipeBytes,
  xaeadOpen,
  xaeadSeal,
} from '../crypto/primitives.js';
import { err, ok, type Result } from '../result.js';
import { COOKIE_REFRESH_TIME_MS } from '../constants.js';
import {
  COOKIE_BYTES,
  COOKIE_NONCE_BYTES,
  COOKIE_REPLY_BYTES,
  COOKIE_REPLY_COOKIE_OFFSET,
  COOKIE_REPLY_NONCE_OFFSET,
  COOKIE_REPLY_RECEIVER_OFFSET,
  LABEL_COOKIE,
  LABEL_MAC1,
  MAC_BYTES,
  MESSAGE_COOKIE_REPLY,
  messageType,
  readU32,
  writeHeader,
  writeU32,
} from './wire.js';

/** A client forgets a cookie a little before the node's secret can rotate twice. */
const COOKIE_CLIENT_LIFETIME_MS = COOKIE_REFRESH_TIME_MS - 10_000;

export function mac1Key(staticPublicKey: Uint8Array): Buffer {
  return hashTo(32, Buffer.from(LABEL_MAC1, 'ascii'), staticPublicKey);
}

export function cookieKey(staticPublicKey: Uint8Array): Buffer {
  return hashTo(32, Buffer.from(LABEL_COOKIE, 'ascii'), staticPublicKey);
}

/** Offsets of mac1 and mac2 in a handshake message: the last 32 bytes. */
function macOffsets(msg: Uint8Array): { mac1: number; mac2: number } {
  return { mac1: msg.length - 2 * MAC_BYTES, mac2: msg.length - MAC_BYTES };
}

/** Verifies mac1 of an initiation or response (constant time). `key` = mac1Key(receiver static). */
export function verifyMac1(msg: Uint8Array, key: Uint8Array): boolean {
  if (msg.length < 2 * MAC_BYTES + 4) return false;
  const o = macOffsets(msg);
  const expected = Buffer.allocUnsafe(MAC_BYTES);
  mac(expected, key, msg.subarray(0, o.mac1));
  return equalConstantTime(expected, msg.subarray(o.mac1, o.mac2));
}

/** Writes mac1 into its slot of `msg`; everything before mac1 must already be final. */
export function writeMac1(msg: Uint8Array, key: Uint8Array): void {
  const o = macOffsets(msg);
  mac(msg.subarray(o.mac1, o.mac2), key, msg.subarray(0, o.mac1));
}

/**
 * Initiator-side cookie state for one remote node: writes mac1/mac2 into outgoing initiations and
 * accepts cookie replies that answer the last initiation sent.
 */
export class InitiatorCookieState {
  private readonly mac1KeyBuf: Buffer;
  private readonly cookieKeyBuf: Buffer;
  private readonly cookie = Buffer.alloc(COOKIE_BYTES);
  private cookieAt = -Infinity;
  private readonly lastMac1 = Buffer.alloc(MAC_BYTES);
  private hasLastMac1 = false;

  constructor(remoteStaticPublicKey: Uint8Array) {
    this.mac1KeyBuf = mac1Key(remoteStaticPublicKey);
    this.cookieKeyBuf = cookieKey(remoteStaticPublicKey);
  }

  /** Fills mac1 and mac2 (zeros unless a fresh cookie is held) of a finished initiation in place. */
  stampMacs(msg: Buffer, now: number): void {
    const o = macOffsets(msg);
    writeMac1(msg, this.mac1KeyBuf);
    this.lastMac1.set(msg.subarray(o.mac1, o.mac2));
    this.hasLastMac1 = true;
    if (now - this.cookieAt < COOKIE_CLIENT_LIFETIME_MS) {
      mac(msg.subarray(o.mac2), this.cookie, msg.subarray(0, o.mac2));
    } else {
      msg.fill(0, o.mac2);
    }
  }

  hasFreshCookie(now: number): boolean {
    return now - this.cookieAt < COOKIE_CLIENT_LIFETIME_MS;
  }

  /** Decrypts a cookie reply (already parsed) for the last initiation; stores the cookie. */
  consumeCookieReply(msg: Uint8Array, now: number): Result<void, 'badCookieReply' | 'decryptFailed'> {
    if (msg.length !== COOKIE_REPLY_BYTES || messageType(msg) !== MESSAGE_COOKIE_REPLY) {
      return err('badCookieReply');
    }
    if (!this.hasLastMac1) return err('decryptFailed');
    const nonce = Buffer.from(msg.subarray(COOKIE_REPLY_NONCE_OFFSET, COOKIE_REPLY_COOKIE_OFFSET));
    const sealed = Buffer.from(msg.subarray(COOKIE_REPLY_COOKIE_OFFSET));
    const cookie = Buffer.alloc(COOKIE_BYTES);
    if (!xaeadOpen(cookie, this.cookieKeyBuf, nonce, this.lastMac1, sealed)) return err('decryptFailed');
    this.cookie.set(cookie);
    wipeBytes(cookie);
    this.cookieAt = now;
    // One reply per initiation: a second (replayed) reply for the same mac1 is refused.
    this.hasLastMac1 = false;
    return ok(undefined);
  }

  wipe(): void {
    wipeBytes(this.cookie);
    this.cookieAt = -Infinity;
  }
}

export type Mac2Check = 'valid' | 'absent' | 'invalid';

/**
 * Node-side checker: verifies mac1 against the node's key, checks mac2 against cookies of the current
 * (or just-rotated) secret, and builds cookie replies. Holds the rotating cookie secrets.
 */
export class CookieChecker {
  readonly mac1KeyBuf: Buffer;
  private readonly cookieKeyBuf: Buffer;
  private readonly secret = Buffer.alloc(32);
  private readonly previous = Buffer.alloc(32);
  private previousValid = false;
  private secretAt = -Infinity;
  private readonly scratch = Buffer.alloc(MAC_BYTES);
  private readonly cookieScratch = Buffer.alloc(COOKIE_BYTES);

  constructor(staticPublicKey: Uint8Array) {
    this.mac1KeyBuf = mac1Key(staticPublicKey);
    this.cookieKeyBuf = cookieKey(staticPublicKey);
  }

  verifyMac1(msg: Uint8Array): boolean {
    return verifyMac1(msg, this.mac1KeyBuf);
  }

  private rotate(now: number): void {
    if (now - this.secretAt < COOKIE_REFRESH_TIME_MS) return;
    // The previous secret stays valid for at most one period after it was replaced.
    this.previousValid = now - this.secretAt < 2 * COOKIE_REFRESH_TIME_MS;
    if (this.previousValid) this.previous.set(this.secret);
    else wipeBytes(this.previous);
    randomBytes(this.secret);
    this.secretAt = now;
  }

  private computeCookie(out: Buffer, secret: Buffer, source: Uint8Array): void {
    mac(out, secret, source);
  }

  /**
   * mac2 of a message from `source`: 'absent' when all zero, 'valid' when it matches a cookie of
   * the current or previous secret, else 'invalid'.
   */
  checkMac2(msg: Uint8Array, source: Uint8Array, now: number): Mac2Check {
    if (msg.length < 2 * MAC_BYTES + 4) return 'invalid';
    const o = macOffsets(msg);
    const got = msg.subarray(o.mac2);
    if (isAllZero(got)) return 'absent';
    this.rotate(now);
    if (this.mac2Matches(this.secret, source, msg, o.mac2)) return 'valid';
    if (this.previousValid && this.mac2Matches(this.previous, source, msg, o.mac2)) return 'valid';
    return 'invalid';
  }

  private mac2Matches(secret: Buffer, source: Uint8Array, msg: Uint8Array, mac2Offset: number): boolean {
    this.computeCookie(this.cookieScratch, secret, source);
    mac(this.scratch, this.cookieScratch, msg.subarray(0, mac2Offset));
    return equalConstantTime(this.scratch, msg.subarray(mac2Offset));
  }

  /** Builds a cookie reply to `msg` (an initiation whose mac1 verified), for `source`. Fresh buffer. */
  createCookieReply(msg: Uint8Array, source: Uint8Array, now: number): Buffer {
    this.rotate(now);
    const o = macOffsets(msg);
    const senderIndex = readU32(msg, 4);
    const out = Buffer.alloc(COOKIE_REPLY_BYTES);
    writeHeader(out, MESSAGE_COOKIE_REPLY);
    writeU32(out, COOKIE_REPLY_RECEIVER_OFFSET, senderIndex);
    const nonce = out.subarray(COOKIE_REPLY_NONCE_OFFSET, COOKIE_REPLY_NONCE_OFFSET + COOKIE_NONCE_BYTES);
    randomBytes(nonce);
    const cookie = Buffer.alloc(COOKIE_BYTES);
    this.computeCookie(cookie, this.secret, source);
    xaeadSeal(
      out.subarray(COOKIE_REPLY_COOKIE_OFFSET),
      this.cookieKeyBuf,
      Buffer.from(nonce),
      Buffer.from(msg.subarray(o.mac1, o.mac2)),
      cookie,
    );
    wipeBytes(cookie);
    return out;
  }

  wipe(): void {
    wipeBytes(this.secret);
    wipeBytes(this.previous);
    this.previousValid = false;
    this.secretAt = -Infinity;
  }
}
