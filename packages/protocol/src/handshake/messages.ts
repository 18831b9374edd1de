/**
 * The four handshake operations (client = Noise IK initiator, which knows the node's static key):
 *
 *   client                                   node
 *   createInitiation  ---- initiation ---->  consumeInitiation (mac1, [mac2], DH, payload)
 *                     <--- cookie reply ---  createCookieReply   (only under load)
 *   consumeCookieReply
 *                     <---- response ------  createResponse
 *   consumeResponse
 *
 * Functions return tagged results and never throw on untrusted input. Buffers returned are fresh and
 * owned by the caller; input buffers are never retained (copies are made where needed).
 */
import { HANDSHAKE_PROLOGUE } from '../constants.js';
import { isAllZero } from '../crypto/primitives.js';
import { HandshakeState } from '../noise/handshake-state.js';
import { err, ok, type Result } from '../result.js';
import { mac1Key, verifyMac1, writeMac1, type CookieChecker, type InitiatorCookieState } from './cookie.js';
import {
  decodeInitiationPayload,
  decodeTunnelParams,
  encodeInitiationPayload,
  encodeTunnelParams,
  type InitiationPayload,
  type TunnelParams,
} from './payload.js';
import {
  INITIATION_MAX_BYTES,
  INITIATION_MIN_BYTES,
  INITIATION_EPHEMERAL_OFFSET,
  INITIATION_SENDER_OFFSET,
  MAC_BYTES,
  COOKIE_REPLY_BYTES,
  COOKIE_REPLY_RECEIVER_OFFSET,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  messageType,
  readU32,
  RESPONSE_MAX_BYTES,
  RESPONSE_MIN_BYTES,
  RESPONSE_EPHEMERAL_OFFSET,
  RESPONSE_RECEIVER_OFFSET,
  RESPONSE_SENDER_OFFSET,
  writeHeader,
  writeU32,
} from './wire.js';

const PROLOGUE = Buffer.from(HANDSHAKE_PROLOGUE, 'ascii');

export type HandshakeError =
  | 'shortPacket'
  | 'badLength'
  | 'unknownType'
  | 'badMac1'
  | 'badMac2'
  | 'decryptFailed'
  | 'badPayload'
  | 'badIndex'
  | 'badKey';

/** Transport keys of a finished handshake; the caller owns and must wipe them. */
export interface TransportKeys {
  readonly send: Buffer;
  readonly receive: Buffer;
  /** Noise handshake hash (channel binding), 64 bytes. */
  readonly handshakeHash: Buffer;
}

/** Cheap structural check of an initiation (type, reserved bytes, length). No crypto. */
export function parseInitiation(msg: Uint8Array): Result<{ senderIndex: number }, HandshakeError> {
  if (msg.length < 4) return err('shortPacket');
  if (messageType(msg) !== MESSAGE_INITIATION) return err('unknownType');
  if (msg.length < INITIATION_MIN_BYTES || msg.length > INITIATION_MAX_BYTES) return err('badLength');
  return ok({ senderIndex: readU32(msg, INITIATION_SENDER_OFFSET) });
}

/** Cheap structural check of a response. No crypto. */
export function parseResponse(
  msg: Uint8Array,
): Result<{ senderIndex: number; receiverIndex: number }, HandshakeError> {
  if (msg.length < 4) return err('shortPacket');
  if (messageType(msg) !== MESSAGE_RESPONSE) return err('unknownType');
  if (msg.length < RESPONSE_MIN_BYTES || msg.length > RESPONSE_MAX_BYTES) return err('badLength');
  return ok({
    senderIndex: readU32(msg, RESPONSE_SENDER_OFFSET),
    receiverIndex: readU32(msg, RESPONSE_RECEIVER_OFFSET),
  });
}

export interface CreateInitiationInput {
  readonly localStaticPrivateKey: Uint8Array;
  /** Optional: the matching public key (saves a scalar multiplication). */
  readonly localStaticPublicKey?: Uint8Array;
  readonly remoteStaticPublicKey: Uint8Array;
  readonly senderIndex: number;
  readonly payload: InitiationPayload;
  /** Writes mac1/mac2 and remembers mac1 for a cookie reply. */
  readonly cookies: InitiatorCookieState;
  /** Monotonic ms, for cookie freshness. */
  readonly now: number;
  /** Tests only. */
  readonly ephemeralPrivateKey?: Uint8Array;
}

export interface PendingInitiation {
  readonly message: Buffer;
  /** Noise state awaiting the response; the caller wipes it if the handshake is abandoned. */
  readonly handshake: HandshakeState;
  readonly senderIndex: number;
}

export function createInitiation(
  input: CreateInitiationInput,
): Result<PendingInitiation, HandshakeError | 'ticketTooLarge'> {
  const payload = encodeInitiationPayload(input.payload);
  if (!payload.ok) return err(payload.error === 'ticketTooLarge' ? 'ticketTooLarge' : 'badPayload');
  const hs = new HandshakeState({
    pattern: 'IK',
    initiator: true,
    prologue: PROLOGUE,
    staticPrivateKey: input.localStaticPrivateKey,
    staticPublicKey: input.localStaticPublicKey,
    remoteStaticPublicKey: input.remoteStaticPublicKey,
    ephemeralPrivateKey: input.ephemeralPrivateKey,
  });
  const noise = hs.writeMessage(payload.value);
  if (!noise.ok) {
    hs.wipe();
    return err('badKey');
  }
  const msg = Buffer.alloc(8 + noise.value.length + 2 * MAC_BYTES);
  writeHeader(msg, MESSAGE_INITIATION);
  writeU32(msg, INITIATION_SENDER_OFFSET, input.senderIndex);
  noise.value.copy(msg, INITIATION_EPHEMERAL_OFFSET);
  input.cookies.stampMacs(msg, input.now);
  return ok({ message: msg, handshake: hs, senderIndex: input.senderIndex });
}

export interface ConsumedInitiation {
  readonly senderIndex: number;
  readonly clientStaticPublicKey: Buffer;
  readonly payload: InitiationPayload;
  /** Noise state ready for `createResponse`; wipe it if the initiation is refused. */
  readonly handshake: HandshakeState;
}

/**
 * Verifies mac1 (with the node's mac1 key) and runs the Noise message: two DH, static decryption and
 * payload decryption. mac2/cookie policy and rate limiting are the caller's job and come first.
 */
export function consumeInitiation(
  msg: Uint8Array,
  nodeStaticPrivateKey: Uint8Array,
  nodeMac1Key: Uint8Array,
  nodeStaticPublicKey?: Uint8Array,
  /** Tests only: the ephemeral key the response will use. */
  ephemeralPrivateKey?: Uint8Array,
): Result<ConsumedInitiation, HandshakeError> {
  const parsed = parseInitiation(msg);
  if (!parsed.ok) return parsed;
  if (!verifyMac1(msg, nodeMac1Key)) return err('badMac1');
  const hs = new HandshakeState({
    pattern: 'IK',
    initiator: false,
    prologue: PROLOGUE,
    staticPrivateKey: nodeStaticPrivateKey,
    staticPublicKey: nodeStaticPublicKey,
    ephemeralPrivateKey,
  });
  const read = hs.readMessage(msg.subarray(INITIATION_EPHEMERAL_OFFSET, msg.length - 2 * MAC_BYTES));
  if (!read.ok) {
    hs.wipe();
    return err(read.error === 'badPublicKey' ? 'badKey' : 'decryptFailed');
  }
  const payload = decodeInitiationPayload(read.value);
  const rs = hs.remoteStaticPublicKey();
  if (!payload.ok || rs === null) {
    hs.wipe();
    return err('badPayload');
  }
  return ok({
    senderIndex: parsed.value.senderIndex,
    clientStaticPublicKey: rs,
    payload: payload.value,
    handshake: hs,
  });
}

export interface CreateResponseInput {
  readonly handshake: HandshakeState;
  /** The node's index for this session (the client's receiver index from now on). */
  readonly senderIndex: number;
  /** The client's sender index from its initiation. */
  readonly receiverIndex: number;
  readonly clientStaticPublicKey: Uint8Array;
  readonly params: TunnelParams;
}

/** Builds the response (mac1 keyed by the client's static key; mac2 zero) and derives transport keys. */
export function createResponse(
  input: CreateResponseInput,
): Result<{ message: Buffer; keys: TransportKeys }, HandshakeError> {
  const payload = encodeTunnelParams(input.params);
  if (!payload.ok) {
    input.handshake.wipe();
    return err('badPayload');
  }
  const noise = input.handshake.writeMessage(payload.value);
  if (!noise.ok) {
    input.handshake.wipe();
    return err('badKey');
  }
  const msg = Buffer.alloc(12 + noise.value.length + 2 * MAC_BYTES);
  writeHeader(msg, MESSAGE_RESPONSE);
  writeU32(msg, RESPONSE_SENDER_OFFSET, input.senderIndex);
  writeU32(msg, RESPONSE_RECEIVER_OFFSET, input.receiverIndex);
  noise.value.copy(msg, RESPONSE_EPHEMERAL_OFFSET);
  writeMac1(msg, mac1Key(input.clientStaticPublicKey));
  const handshakeHash = input.handshake.handshakeHash();
  const keys = input.handshake.splitKeys();
  if (!keys.ok) return err('badKey');
  return ok({ message: msg, keys: { ...keys.value, handshakeHash } });
}

export interface ConsumedResponse {
  readonly senderIndex: number;
  readonly params: TunnelParams;
  readonly keys: TransportKeys;
}

/**
 * Consumes a response to `pending`. Checks type, length, receiver index, mac1 (keyed by our own
 * static key: `localMac1Key`) and that mac2 is zero (nodes never hold client cookies), then the Noise
 * message. On failure `pending` is untouched and can still consume the genuine response; on success
 * its handshake state is wiped and must not be used again.
 */
export function consumeResponse(
  msg: Uint8Array,
  pending: PendingInitiation,
  localMac1Key: Uint8Array,
): Result<ConsumedResponse, HandshakeError> {
  const parsed = parseResponse(msg);
  if (!parsed.ok) return parsed;
  if (parsed.value.receiverIndex !== pending.senderIndex) return err('badIndex');
  if (!verifyMac1(msg, localMac1Key)) return err('badMac1');
  if (!isAllZero(msg.subarray(msg.length - MAC_BYTES))) return err('badMac2');
  // Read on a copy: a forged response (anyone who knows our public key can get past mac1) must not
  // corrupt the pending handshake, which stays usable for the genuine response.
  const hs = pending.handshake.clone();
  const read = hs.readMessage(msg.subarray(RESPONSE_EPHEMERAL_OFFSET, msg.length - 2 * MAC_BYTES));
  if (!read.ok) {
    hs.wipe();
    return err(read.error === 'badPublicKey' ? 'badKey' : 'decryptFailed');
  }
  const params = decodeTunnelParams(read.value);
  if (!params.ok) {
    hs.wipe();
    return err('badPayload');
  }
  pending.handshake.wipe();
  const handshakeHash = hs.handshakeHash();
  const keys = hs.splitKeys();
  if (!keys.ok) return err('badKey');
  return ok({
    senderIndex: parsed.value.senderIndex,
    params: params.value,
    keys: { ...keys.value, handshakeHash },
  });
}

/**
 * Node side, under load: answers an initiation (whose mac1 verified) from `source` with an encrypted
 * cookie. `source` is caller-encoded address bytes (the same encoding must be used for mac2 checks).
 */
export function createCookieReply(
  checker: CookieChecker,
  initiation: Uint8Array,
  source: Uint8Array,
  now: number,
): Result<Buffer, HandshakeError> {
  const parsed = parseInitiation(initiation);
  if (!parsed.ok) return parsed;
  if (!checker.verifyMac1(initiation)) return err('badMac1');
  return ok(checker.createCookieReply(initiation, source, now));
}

/**
 * Client side: consumes a cookie reply answering `pending` (receiver index must match, and the AEAD
 * binds it to that initiation's mac1). The cookie is stored in `cookies` and used for mac2 of the
 * next initiations.
 */
export function consumeCookieReply(
  msg: Uint8Array,
  pending: PendingInitiation,
  cookies: InitiatorCookieState,
  now: number,
): Result<void, HandshakeError> {
  if (msg.length < 4) return err('shortPacket');
  if (messageType(msg) !== MESSAGE_COOKIE_REPLY) return err('unknownType');
  if (msg.length !== COOKIE_REPLY_BYTES) return err('badLength');
  if (readU32(msg, COOKIE_REPLY_RECEIVER_OFFSET) !== pending.senderIndex) return err('badIndex');
  const r = cookies.consumeCookieReply(msg, now);
  return r.ok ? ok(undefined) : err('decryptFailed');
}

export { mac1Key };
