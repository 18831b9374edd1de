/**
 * Node tickets: the controller signs one per (user, device, node) connection; the node verifies it
 * offline inside the handshake. Layout and constants: `./format.ts`.
 *
 * `decodeTicket` and `verifyTicket` take untrusted bytes: they check lengths before reading, never
 * throw, and allocate only fixed-size results (strings of at most 36 characters, a 32-byte key copy).
 */
import sodium from 'sodium-native';
import {
  ED25519_PRIVATE_KEY_BYTES,
  ED25519_PUBLIC_KEY_BYTES,
  X25519_KEY_BYTES,
  constantTimeEqual,
  parseEd25519PublicKey,
  type Ed25519PrivateKey,
  type Ed25519PublicKey,
  type X25519PublicKey,
} from '../keys.js';
import { err, ok, type Result } from '../result.js';
import {
  NODE_ID_MAX_LENGTH,
  NODE_ID_PATTERN,
  TICKET_CLIENT_KEY_BYTES,
  TICKET_MAX_BYTES,
  TICKET_MIN_BYTES,
  TICKET_OFFSET_DEVICE_ID,
  TICKET_OFFSET_KEY_ID,
  TICKET_OFFSET_NODE_ID,
  TICKET_OFFSET_NODE_ID_LENGTH,
  TICKET_OFFSET_TICKET_ID,
  TICKET_OFFSET_USER_ID,
  TICKET_OFFSET_VERSION,
  TICKET_SIGNATURE_BYTES,
  TICKET_SIGNATURE_DOMAIN,
  TICKET_VERSION,
  ticketSize,
} from './format.js';
import { isUuid, readUuid, writeUuid } from './uuid.js';

/** Per-session limits enforced by the node. 0 means unlimited. Integers in [0, 2^53 - 1]. */
export interface TicketLimits {
  bandwidthBytesPerSec: number;
  dataQuotaBytes: number;
}

export interface TicketClaims {
  /** UUID text; decoded tickets always yield lowercase. */
  ticketId: string;
  userId: string;
  deviceId: string;
  /** Node slug (`NODE_ID_PATTERN`, 1..32 characters). */
  nodeId: string;
  /** The device's static key: the Noise IK initiator static key must equal it. */
  clientPublicKey: X25519PublicKey;
  /** Unix seconds. */
  issuedAt: number;
  /** Unix seconds, strictly after `issuedAt`. */
  expiresAt: number;
  limits: TicketLimits;
}

export interface TicketSigner {
  /** u32 carried in the ticket so verifiers pick the right public key during rotation. */
  keyId: number;
  privateKey: Ed25519PrivateKey;
}

/** Why bytes are not a well-formed ticket (before any signature check). */
export type TicketDecodeError =
  | 'notBytes'
  | 'tooShort'
  | 'tooLong'
  | 'unsupportedVersion'
  | 'badNodeId'
  | 'badLength'
  | 'valueOutOfRange'
  | 'badTimes';

export type TicketRejectReason =
  | 'malformed'
  | 'unknownKey'
  | 'keyNotYetValid'
  | 'keyExpired'
  | 'badSignature'
  | 'expired'
  | 'notYetValid'
  | 'wrongNode'
  | 'wrongClientKey'
  | 'revoked';

export type TicketVerifyResult =
  { ok: true; claims: TicketClaims; keyId: number } | { ok: false; reason: TicketRejectReason };

/**
 * A controller ticket-signing key as a node caches it (`GET /v1/agent/signing-keys`): tickets carrying
 * its key id verify with `publicKey` only while the node's clock is within [notBeforeMs, notAfterMs)
 * (widened by the clock skew), so a key the controller rotated out stops admitting anyone once its
 * period ends, even while it is still cached. Build them with `parseTicketSigningKeys`.
 */
export interface TicketSigningKey {
  readonly publicKey: Ed25519PublicKey;
  /** Milliseconds since the Unix epoch. */
  readonly notBeforeMs: number;
  /** Milliseconds since the Unix epoch (exclusive). */
  readonly notAfterMs: number;
}

export interface TicketVerifyOptions {
  /** Cached controller signing keys (with their validity) by key id. A function must not throw. */
  keys: ReadonlyMap<number, TicketSigningKey> | ((keyId: number) => TicketSigningKey | undefined);
  /** This node's id. */
  nodeId: string;
  /** Static key the client proved in the handshake. */
  clientPublicKey: X25519PublicKey;
  /** Current time in milliseconds (injected clock). */
  nowMs: number;
  /** Tolerated clock difference in seconds on both ends of the validity window; default 30. */
  clockSkewSeconds?: number;
  /** Consulted last, only for authentic, in-window tickets for this node and client. Must not throw. */
  isRevoked?: (claims: TicketClaims) => boolean;
}

export const DEFAULT_TICKET_CLOCK_SKEW_SECONDS = 30;

const DOMAIN = Buffer.from(TICKET_SIGNATURE_DOMAIN, 'ascii');
const MAX_SIGNED_BODY_BYTES = TICKET_MAX_BYTES - TICKET_SIGNATURE_BYTES;
/**
 * Scratch for `DOMAIN || body`: sign and verify are synchronous, so one module-level buffer is never
 * shared by two calls at once. The domain prefix is written once.
 */
const signedMessage = Buffer.alloc(DOMAIN.length + MAX_SIGNED_BODY_BYTES);
DOMAIN.copy(signedMessage, 0);

const TWO_POW_32 = 0x1_0000_0000;
/** Largest high word of a u64 whose value is still <= Number.MAX_SAFE_INTEGER. */
const MAX_SAFE_HIGH_WORD = 0x1f_ffff;

function isU53(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function writeU53(value: number, out: Buffer, offset: number): void {
  out.writeUInt32BE(Math.floor(value / TWO_POW_32), offset);
  out.writeUInt32BE(value % TWO_POW_32, offset + 4);
}

/** Reads a u64 that must fit in 53 bits; returns -1 otherwise. */
function readU53(bytes: Buffer, offset: number): number {
  const high = bytes.readUInt32BE(offset);
  if (high > MAX_SAFE_HIGH_WORD) return -1;
  return high * TWO_POW_32 + bytes.readUInt32BE(offset + 4);
}

/** Offset of the client key, issuedAt, expiresAt, bandwidth, quota and signature for node id length n. */
function tailOffsets(n: number) {
  const clientKey = TICKET_OFFSET_NODE_ID + n;
  return {
    clientKey,
    issuedAt: clientKey + TICKET_CLIENT_KEY_BYTES,
    expiresAt: clientKey + TICKET_CLIENT_KEY_BYTES + 8,
    bandwidth: clientKey + TICKET_CLIENT_KEY_BYTES + 16,
    quota: clientKey + TICKET_CLIENT_KEY_BYTES + 24,
    signature: clientKey + TICKET_CLIENT_KEY_BYTES + 32,
  };
}

function fail(message: string): never {
  throw new TypeError(`signTicket: ${message}`);
}

/**
 * Encodes and signs `claims`. Returns a fresh buffer of `ticketSize(nodeId.length)` bytes that the
 * caller owns. Throws a TypeError only for invalid claims or signer (a programmer error): ids that
 * are not UUIDs, a node id outside `NODE_ID_PATTERN`, a key of the wrong size, times or limits that
 * are not integers in [0, 2^53 - 1], `expiresAt <= issuedAt`, or a keyId outside u32.
 */
export function signTicket(claims: TicketClaims, signer: TicketSigner): Buffer {
  if (!isUuid(claims.ticketId)) fail('ticketId must be a UUID');
  if (!isUuid(claims.userId)) fail('userId must be a UUID');
  if (!isUuid(claims.deviceId)) fail('deviceId must be a UUID');
  const nodeId = claims.nodeId;
  if (typeof nodeId !== 'string' || nodeId.length > NODE_ID_MAX_LENGTH || !NODE_ID_PATTERN.test(nodeId)) {
    fail(`nodeId must match ${NODE_ID_PATTERN.source} with at most ${NODE_ID_MAX_LENGTH} characters`);
  }
  if (!(claims.clientPublicKey instanceof Uint8Array) || claims.clientPublicKey.length !== X25519_KEY_BYTES) {
    fail(`clientPublicKey must be ${X25519_KEY_BYTES} bytes`);
  }
  if (!isU53(claims.issuedAt)) fail('issuedAt must be an integer number of unix seconds');
  if (!isU53(claims.expiresAt)) fail('expiresAt must be an integer number of unix seconds');
  if (claims.expiresAt <= claims.issuedAt) fail('expiresAt must be after issuedAt');
  if (!isU53(claims.limits?.bandwidthBytesPerSec))
    fail('limits.bandwidthBytesPerSec must be an integer >= 0');
  if (!isU53(claims.limits?.dataQuotaBytes)) fail('limits.dataQuotaBytes must be an integer >= 0');
  if (!Number.isInteger(signer.keyId) || signer.keyId < 0 || signer.keyId >= TWO_POW_32) {
    fail('signer.keyId must be a u32');
  }
  if (!(signer.privateKey instanceof Uint8Array) || signer.privateKey.length !== ED25519_PRIVATE_KEY_BYTES) {
    fail(`signer.privateKey must be a ${ED25519_PRIVATE_KEY_BYTES}-byte libsodium Ed25519 secret key`);
  }

  const n = nodeId.length;
  const at = tailOffsets(n);
  const out = Buffer.alloc(ticketSize(n));
  out.writeUInt8(TICKET_VERSION, TICKET_OFFSET_VERSION);
  out.writeUInt32BE(signer.keyId, TICKET_OFFSET_KEY_ID);
  writeUuid(claims.ticketId, out, TICKET_OFFSET_TICKET_ID);
  writeUuid(claims.userId, out, TICKET_OFFSET_USER_ID);
  writeUuid(claims.deviceId, out, TICKET_OFFSET_DEVICE_ID);
  out.writeUInt8(n, TICKET_OFFSET_NODE_ID_LENGTH);
  out.write(nodeId, TICKET_OFFSET_NODE_ID, n, 'ascii');
  out.set(claims.clientPublicKey, at.clientKey);
  writeU53(claims.issuedAt, out, at.issuedAt);
  writeU53(claims.expiresAt, out, at.expiresAt);
  writeU53(claims.limits.bandwidthBytesPerSec, out, at.bandwidth);
  writeU53(claims.limits.dataQuotaBytes, out, at.quota);

  const message = signedMessageFor(out, at.signature);
  sodium.crypto_sign_detached(out.subarray(at.signature), message, signer.privateKey);
  return out;
}

/** `DOMAIN || ticket[0, bodyLength)` in the scratch buffer; valid until the next call. */
function signedMessageFor(ticket: Buffer, bodyLength: number): Buffer {
  ticket.copy(signedMessage, DOMAIN.length, 0, bodyLength);
  return signedMessage.subarray(0, DOMAIN.length + bodyLength);
}

interface Decoded {
  keyId: number;
  claims: TicketClaims;
  /** View of the input (not a copy). */
  view: Buffer;
  signatureOffset: number;
}

function decode(bytes: Uint8Array): Result<Decoded, TicketDecodeError> {
  if (!(bytes instanceof Uint8Array)) return err('notBytes');
  if (bytes.length < TICKET_MIN_BYTES) return err('tooShort');
  if (bytes.length > TICKET_MAX_BYTES) return err('tooLong');
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view[TICKET_OFFSET_VERSION] !== TICKET_VERSION) return err('unsupportedVersion');
  const n = view[TICKET_OFFSET_NODE_ID_LENGTH] ?? 0;
  if (n < 1 || n > NODE_ID_MAX_LENGTH) return err('badNodeId');
  if (view.length !== ticketSize(n)) return err('badLength');
  const nodeId = view.toString('latin1', TICKET_OFFSET_NODE_ID, TICKET_OFFSET_NODE_ID + n);
  if (!NODE_ID_PATTERN.test(nodeId)) return err('badNodeId');

  const at = tailOffsets(n);
  const issuedAt = readU53(view, at.issuedAt);
  const expiresAt = readU53(view, at.expiresAt);
  const bandwidthBytesPerSec = readU53(view, at.bandwidth);
  const dataQuotaBytes = readU53(view, at.quota);
  if (issuedAt < 0 || expiresAt < 0 || bandwidthBytesPerSec < 0 || dataQuotaBytes < 0) {
    return err('valueOutOfRange');
  }
  if (expiresAt <= issuedAt) return err('badTimes');

  const clientPublicKey = Buffer.alloc(X25519_KEY_BYTES);
  view.copy(clientPublicKey, 0, at.clientKey, at.clientKey + X25519_KEY_BYTES);
  return ok({
    keyId: view.readUInt32BE(TICKET_OFFSET_KEY_ID),
    claims: {
      ticketId: readUuid(view, TICKET_OFFSET_TICKET_ID),
      userId: readUuid(view, TICKET_OFFSET_USER_ID),
      deviceId: readUuid(view, TICKET_OFFSET_DEVICE_ID),
      nodeId,
      clientPublicKey: clientPublicKey as X25519PublicKey,
      issuedAt,
      expiresAt,
      limits: { bandwidthBytesPerSec, dataQuotaBytes },
    },
    view,
    signatureOffset: at.signature,
  });
}

/**
 * Parses a ticket WITHOUT checking its signature, expiry or binding: for logs, diagnostics and the
 * client (which cannot verify). Never use the result to admit a session; use `verifyTicket`.
 * Never throws. The returned claims do not alias `bytes`.
 */
export function decodeTicket(
  bytes: Uint8Array,
): Result<{ keyId: number; claims: TicketClaims }, TicketDecodeError> {
  const decoded = decode(bytes);
  if (!decoded.ok) return decoded;
  return ok({ keyId: decoded.value.keyId, claims: decoded.value.claims });
}

function reject(reason: TicketRejectReason): TicketVerifyResult {
  return { ok: false, reason };
}

/**
 * Full offline verification, in this order (the first failure is reported): structure
 * (`malformed`), key id (`unknownKey`), the key's validity period widened by the clock skew
 * (`keyNotYetValid`, `keyExpired`; a NaN `nowMs` or period fails closed there), Ed25519 signature
 * (`badSignature`), the ticket's validity window widened by the clock skew (`notYetValid`,
 * `expired`), node id (`wrongNode`), client static key, compared in constant time
 * (`wrongClientKey`), then `isRevoked` (`revoked`). Never throws on any `bytes`; callbacks in
 * `options` must not throw.
 */
export function verifyTicket(bytes: Uint8Array, options: TicketVerifyOptions): TicketVerifyResult {
  const decoded = decode(bytes);
  if (!decoded.ok) return reject('malformed');
  const { keyId, claims, view, signatureOffset } = decoded.value;

  const record = typeof options.keys === 'function' ? options.keys(keyId) : options.keys.get(keyId);
  const key = record?.publicKey;
  if (!(key instanceof Uint8Array) || key.length !== ED25519_PUBLIC_KEY_BYTES) return reject('unknownKey');

  const skew = options.clockSkewSeconds ?? DEFAULT_TICKET_CLOCK_SKEW_SECONDS;
  const skewMs = Number.isFinite(skew) && skew > 0 ? skew * 1000 : 0;
  // Written as negated comparisons so NaN (in the clock or in a record) fails closed.
  if (!(options.nowMs >= record!.notBeforeMs - skewMs)) return reject('keyNotYetValid');
  if (!(options.nowMs < record!.notAfterMs + skewMs)) return reject('keyExpired');

  const signature = view.subarray(signatureOffset, signatureOffset + TICKET_SIGNATURE_BYTES);
  if (!sodium.crypto_sign_verify_detached(signature, signedMessageFor(view, signatureOffset), key)) {
    return reject('badSignature');
  }

  if (!(options.nowMs >= claims.issuedAt * 1000 - skewMs)) return reject('notYetValid');
  if (!(options.nowMs < claims.expiresAt * 1000 + skewMs)) return reject('expired');

  if (claims.nodeId !== options.nodeId) return reject('wrongNode');
  if (!constantTimeEqual(claims.clientPublicKey, options.clientPublicKey)) return reject('wrongClientKey');
  if (options.isRevoked?.(claims) === true) return reject('revoked');
  return { ok: true, claims, keyId };
}

/** A signing key as the control plane lists it (`SigningKey` in `@corridor/protocol/control`). */
export interface SigningKeyText {
  readonly keyId: number;
  /** `ed25519pub:<base64url>`. */
  readonly publicKey: string;
  /** RFC 3339. */
  readonly notBefore: string;
  /** RFC 3339. */
  readonly notAfter: string;
}

/**
 * Turns the controller's signing key list into the records `verifyTicket` takes. Refuses the whole
 * list (a typed error naming the entry) when any entry is malformed or a key id repeats, so a node
 * never runs on a partly understood key set. Never throws.
 */
export function parseTicketSigningKeys(
  list: readonly SigningKeyText[],
): Result<Map<number, TicketSigningKey>, string> {
  const out = new Map<number, TicketSigningKey>();
  for (const [i, k] of list.entries()) {
    if (!Number.isInteger(k?.keyId) || k.keyId < 0 || k.keyId >= TWO_POW_32) {
      return err(`keys[${i}]: keyId must be a u32`);
    }
    if (out.has(k.keyId)) return err(`keys[${i}]: key id ${k.keyId} appears twice`);
    const publicKey = typeof k.publicKey === 'string' ? parseEd25519PublicKey(k.publicKey) : null;
    if (publicKey === null || !publicKey.ok) return err(`keys[${i}]: publicKey is not an ed25519pub key`);
    const notBeforeMs = typeof k.notBefore === 'string' ? Date.parse(k.notBefore) : NaN;
    const notAfterMs = typeof k.notAfter === 'string' ? Date.parse(k.notAfter) : NaN;
    if (!Number.isFinite(notBeforeMs) || !Number.isFinite(notAfterMs)) {
      return err(`keys[${i}]: notBefore and notAfter must be RFC 3339 times`);
    }
    out.set(k.keyId, { publicKey: publicKey.value, notBeforeMs, notAfterMs });
  }
  return ok(out);
}
