/**
 * Node ticket wire layout (version 1). Pure constants, no crypto, so that the control schemas can
 * bound ticket sizes without loading sodium.
 *
 * All integers are big-endian. Offsets after `nodeId` shift by its length `n` (1..32).
 *
 * ```
 * off      size  field
 * 0        1     version            (TICKET_VERSION = 1)
 * 1        4     keyId              u32, selects the controller signing key (rotation)
 * 5        16    ticketId           UUID bytes
 * 21       16    userId             UUID bytes
 * 37       16    deviceId           UUID bytes
 * 53       1     nodeIdLength n     1..32
 * 54       n     nodeId             ASCII, NODE_ID_PATTERN
 * 54+n     32    clientPublicKey    X25519
 * 86+n     8     issuedAt           u64 unix seconds (<= 2^53 - 1)
 * 94+n     8     expiresAt          u64 unix seconds (> issuedAt)
 * 102+n    8     bandwidthBytesPerSec  u64, 0 = unlimited (<= 2^53 - 1)
 * 110+n    8     dataQuotaBytes     u64, 0 = unlimited (<= 2^53 - 1)
 * 118+n    64    signature          Ed25519 over TICKET_SIGNATURE_DOMAIN || bytes[0, 118+n)
 * ```
 *
 * The domain prefix is part of the signed message but never on the wire, so a controller signature
 * over anything else (a future message kind, another version) can never be replayed as a ticket.
 */

export const TICKET_VERSION = 1;
/** ASCII prefix of every signed ticket message; not transmitted. */
export const TICKET_SIGNATURE_DOMAIN = 'corridor-ticket-v1';

export const UUID_BYTES = 16;
export const TICKET_SIGNATURE_BYTES = 64;
export const TICKET_CLIENT_KEY_BYTES = 32;

/** Node ids: lowercase slug, 1..32 characters (`fra-1`, `us-east-2`). Shared with the control schemas. */
export const NODE_ID_MAX_LENGTH = 32;
export const NODE_ID_PATTERN_SOURCE = '^[a-z0-9]+(-[a-z0-9]+)*$';
export const NODE_ID_PATTERN = new RegExp(NODE_ID_PATTERN_SOURCE);

export const TICKET_OFFSET_VERSION = 0;
export const TICKET_OFFSET_KEY_ID = 1;
export const TICKET_OFFSET_TICKET_ID = 5;
export const TICKET_OFFSET_USER_ID = 21;
export const TICKET_OFFSET_DEVICE_ID = 37;
export const TICKET_OFFSET_NODE_ID_LENGTH = 53;
export const TICKET_OFFSET_NODE_ID = 54;
/** Bytes from the client key to the signature: key(32) + 4 × u64. */
export const TICKET_TAIL_BYTES = TICKET_CLIENT_KEY_BYTES + 4 * 8;

/** Size of a ticket whose node id has `nodeIdLength` bytes. */
export function ticketSize(nodeIdLength: number): number {
  return TICKET_OFFSET_NODE_ID + nodeIdLength + TICKET_TAIL_BYTES + TICKET_SIGNATURE_BYTES;
}

/** Smallest well-formed ticket (one-character node id): 183 bytes. */
export const TICKET_MIN_BYTES = ticketSize(1);
/** Largest well-formed ticket (32-character node id): 214 bytes. Parsers reject anything longer first. */
export const TICKET_MAX_BYTES = ticketSize(NODE_ID_MAX_LENGTH);
/** Length of the unpadded base64url text form of the largest ticket (control-plane JSON). */
export const TICKET_MAX_TEXT_LENGTH = Math.ceil((TICKET_MAX_BYTES * 4) / 3);
