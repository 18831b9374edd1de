/**
 * Generic Noise HandshakeState (spec section 5.3) driven by the pattern tokens of `patterns.ts`,
 * for the `25519_ChaChaPoly_BLAKE2b` suite. No I/O, no clock: ephemeral keys come from libsodium's
 * RNG unless injected (tests and vectors inject them).
 *
 * Contract: `writeMessage`/`readMessage` must alternate as the pattern says; after the last message
 * `split()` returns the transport CipherStates and wipes the handshake secrets. A failed
 * `readMessage` leaves the state unusable (callers discard it), as in the spec.
 */
import { DHLEN, randomBytes, TAGLEN, wipeBytes, x25519, x25519Base } from '../crypto/primitives.js';
import { err, ok, type Result } from '../result.js';
import { CipherState } from './cipher-state.js';
import { PATTERNS, protocolName, type PatternName, type Token } from './patterns.js';
import { SymmetricState } from './symmetric-state.js';

export type NoiseError =
  | 'wrongTurn'
  | 'finished'
  | 'shortMessage'
  | 'trailingBytes'
  | 'decryptFailed'
  | 'badPublicKey'
  | 'missingKey'
  | 'nonceExhausted';

export interface HandshakeOptions {
  readonly pattern: PatternName;
  readonly initiator: boolean;
  readonly prologue?: Uint8Array;
  /** Local static private key (32 bytes); copied. */
  readonly staticPrivateKey?: Uint8Array;
  /** Its public key, if the caller has it (saves one scalar multiplication per handshake). Trusted. */
  readonly staticPublicKey?: Uint8Array;
  /** Remote static public key known in advance (IK: the responder's key on the initiator side). */
  readonly remoteStaticPublicKey?: Uint8Array;
  /** Injected ephemeral private key (tests only); otherwise generated. Copied. */
  readonly ephemeralPrivateKey?: Uint8Array;
  /** Pre-shared keys for psk patterns, 32 bytes each, consumed in order of `psk` tokens. */
  readonly psks?: readonly Uint8Array[];
}

interface KeyPair {
  readonly priv: Buffer;
  readonly pub: Buffer;
}

function keyPairFrom(priv: Uint8Array, knownPub?: Uint8Array): KeyPair {
  const p = Buffer.from(priv);
  const pub = Buffer.alloc(DHLEN);
  if (knownPub !== undefined && knownPub.length === DHLEN) pub.set(knownPub);
  else x25519Base(pub, p);
  return { priv: p, pub };
}

export class HandshakeState {
  readonly pattern: PatternName;
  readonly initiator: boolean;
  private ss: SymmetricState;
  private s: KeyPair | null;
  private e: KeyPair | null = null;
  private rs: Buffer | null;
  private re: Buffer | null = null;
  private readonly injectedE: Uint8Array | null;
  private readonly psks: readonly Uint8Array[];
  private pskIndex = 0;
  private readonly isPsk: boolean;
  private messageIndex = 0;
  private readonly dhOut = Buffer.alloc(DHLEN);

  constructor(options: HandshakeOptions) {
    this.pattern = options.pattern;
    this.initiator = options.initiator;
    this.ss = new SymmetricState(protocolName(options.pattern));
    this.s = options.staticPrivateKey ? keyPairFrom(options.staticPrivateKey, options.staticPublicKey) : null;
    this.rs = options.remoteStaticPublicKey ? Buffer.from(options.remoteStaticPublicKey) : null;
    this.injectedE = options.ephemeralPrivateKey ?? null;
    this.psks = options.psks ?? [];
    this.isPsk = options.pattern.includes('psk');
    this.ss.mixHash(options.prologue ?? Buffer.alloc(0));
    const def = PATTERNS[options.pattern];
    // Pre-messages: the initiator's pre-message keys are mixed first, then the responder's.
    for (const token of def.initiatorPreMessage as readonly Token[]) this.mixPreMessage(token, true);
    for (const token of def.responderPreMessage as readonly Token[]) this.mixPreMessage(token, false);
  }

  private mixPreMessage(token: Token, ofInitiator: boolean): void {
    if (token !== 's') throw new Error(`unsupported pre-message token ${token}`);
    const local = ofInitiator === this.initiator;
    const key = local ? this.s?.pub : this.rs;
    if (!key) throw new Error('pattern requires a static key that was not supplied');
    this.ss.mixHash(key);
  }

  /**
   * An independent copy (own secrets). Used to attempt reading an untrusted message without
   * corrupting the original on failure; the caller wipes whichever copy it discards.
   */
  clone(): HandshakeState {
    const c = Object.create(HandshakeState.prototype) as HandshakeState;
    Object.assign(c, this);
    c.ss = this.ss.clone();
    c.s = this.s ? { priv: Buffer.from(this.s.priv), pub: Buffer.from(this.s.pub) } : null;
    c.e = this.e ? { priv: Buffer.from(this.e.priv), pub: Buffer.from(this.e.pub) } : null;
    c.rs = this.rs ? Buffer.from(this.rs) : null;
    c.re = this.re ? Buffer.from(this.re) : null;
    (c as unknown as { dhOut: Buffer }).dhOut = Buffer.alloc(DHLEN);
    return c;
  }

  /** The handshake hash `h` (64 bytes; a copy). Meaningful as channel binding after the last message. */
  handshakeHash(): Buffer {
    return Buffer.from(this.ss.h);
  }

  /** Remote static public key once known (a copy), else null. */
  remoteStaticPublicKey(): Buffer | null {
    return this.rs ? Buffer.from(this.rs) : null;
  }

  localEphemeralPublicKey(): Buffer | null {
    return this.e ? Buffer.from(this.e.pub) : null;
  }

  isFinished(): boolean {
    return this.messageIndex >= PATTERNS[this.pattern].messages.length;
  }

  private myTurn(): boolean {
    return (this.messageIndex % 2 === 0) === this.initiator;
  }

  private tokens(): readonly Token[] | undefined {
    return PATTERNS[this.pattern].messages[this.messageIndex] as readonly Token[] | undefined;
  }

  private dh(priv: KeyPair | null, pub: Buffer | null): Result<void, NoiseError> {
    if (!priv || !pub) return err('missingKey');
    if (!x25519(this.dhOut, priv.priv, pub)) return err('badPublicKey');
    this.ss.mixKey(this.dhOut);
    wipeBytes(this.dhOut);
    return ok(undefined);
  }

  private dhToken(token: 'ee' | 'es' | 'se' | 'ss'): Result<void, NoiseError> {
    const i = this.initiator;
    switch (token) {
      case 'ee':
        return this.dh(this.e, this.re);
      case 'es':
        return i ? this.dh(this.e, this.rs) : this.dh(this.s, this.re);
      case 'se':
        return i ? this.dh(this.s, this.re) : this.dh(this.e, this.rs);
      case 'ss':
        return this.dh(this.s, this.rs);
    }
  }

  private mixPsk(): Result<void, NoiseError> {
    const psk = this.psks[this.pskIndex++];
    if (!psk || psk.length !== 32) return err('missingKey');
    this.ss.mixKeyAndHash(psk);
    return ok(undefined);
  }

  /** Builds the next outgoing message carrying `payload`. Returns a fresh buffer owned by the caller. */
  writeMessage(payload: Uint8Array): Result<Buffer, NoiseError> {
    if (this.isFinished()) return err('finished');
    if (!this.myTurn()) return err('wrongTurn');
    const parts: Buffer[] = [];
    for (const token of this.tokens() ?? []) {
      switch (token) {
        case 'e': {
          const priv = Buffer.alloc(DHLEN);
          if (this.injectedE) priv.set(this.injectedE);
          else randomBytes(priv);
          this.e = keyPairFrom(priv);
          wipeBytes(priv);
          parts.push(Buffer.from(this.e.pub));
          this.ss.mixHash(this.e.pub);
          if (this.isPsk) this.ss.mixKey(this.e.pub);
          break;
        }
        case 's': {
          if (!this.s) return err('missingKey');
          const c = this.ss.encryptAndHash(this.s.pub);
          if (!c) return err('nonceExhausted');
          parts.push(c);
          break;
        }
        case 'psk': {
          const r = this.mixPsk();
          if (!r.ok) return r;
          break;
        }
        default: {
          const r = this.dhToken(token);
          if (!r.ok) return r;
        }
      }
    }
    const c = this.ss.encryptAndHash(payload);
    if (!c) return err('nonceExhausted');
    parts.push(c);
    this.messageIndex++;
    return ok(Buffer.concat(parts));
  }

  /**
   * Consumes the next incoming message; returns its payload (fresh buffer). Bounds-checked: a message
   * too short for its tokens yields 'shortMessage'; nothing is allocated beyond the message's size.
   */
  readMessage(message: Uint8Array): Result<Buffer, NoiseError> {
    if (this.isFinished()) return err('finished');
    if (this.myTurn()) return err('wrongTurn');
    let off = 0;
    for (const token of this.tokens() ?? []) {
      switch (token) {
        case 'e': {
          if (message.length - off < DHLEN) return err('shortMessage');
          this.re = Buffer.from(message.subarray(off, off + DHLEN));
          off += DHLEN;
          this.ss.mixHash(this.re);
          if (this.isPsk) this.ss.mixKey(this.re);
          break;
        }
        case 's': {
          const len = this.ss.cipher.hasKey() ? DHLEN + TAGLEN : DHLEN;
          if (message.length - off < len) return err('shortMessage');
          const rs = this.ss.decryptAndHash(message.subarray(off, off + len));
          if (!rs) return err('decryptFailed');
          this.rs = rs;
          off += len;
          break;
        }
        case 'psk': {
          const r = this.mixPsk();
          if (!r.ok) return r;
          break;
        }
        default: {
          const r = this.dhToken(token);
          if (!r.ok) return r;
        }
      }
    }
    const rest = message.subarray(off);
    if (this.ss.cipher.hasKey() && rest.length < TAGLEN) return err('shortMessage');
    const payload = this.ss.decryptAndHash(rest);
    if (!payload) return err('decryptFailed');
    this.messageIndex++;
    return ok(payload);
  }

  /**
   * After the last message: the (initiator->responder, responder->initiator) CipherStates. Wipes the
   * handshake's private keys and chaining key; `handshakeHash()` stays readable.
   */
  split(): Result<{ send: CipherState; receive: CipherState }, NoiseError> {
    if (!this.isFinished()) return err('wrongTurn');
    const [k1, k2] = this.ss.split();
    const c1 = new CipherState();
    const c2 = new CipherState();
    c1.initializeKey(k1);
    c2.initializeKey(k2);
    wipeBytes(k1);
    wipeBytes(k2);
    this.wipe();
    return ok(this.initiator ? { send: c1, receive: c2 } : { send: c2, receive: c1 });
  }

  /** Raw transport keys instead of CipherStates: [initiator->responder, responder->initiator]. */
  splitKeys(): Result<{ send: Buffer; receive: Buffer }, NoiseError> {
    if (!this.isFinished()) return err('wrongTurn');
    const [k1, k2] = this.ss.split();
    this.wipe();
    return ok(this.initiator ? { send: k1, receive: k2 } : { send: k2, receive: k1 });
  }

  /** Zeroes all secrets held by the handshake. Safe to call more than once. */
  wipe(): void {
    this.ss.wipe();
    if (this.s) wipeBytes(this.s.priv);
    if (this.e) wipeBytes(this.e.priv);
  }
}
