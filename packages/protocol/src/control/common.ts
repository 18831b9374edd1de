/**
 * Reusable field schemas for the control-plane messages. Every string is bounded (length, pattern
 * or format) so that validation rejects oversized input before any handler sees it.
 */
import { Type } from 'typebox';
import { NODE_ID_MAX_LENGTH, NODE_ID_PATTERN_SOURCE } from '../ticket/format.js';

/** 32 bytes as unpadded base64url: 43 characters, the last one canonical (its low 2 bits zero). */
const BASE64URL_32_BYTES = '[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]';

/** Canonical `x25519pub:<base64url>` text (as produced by `formatPublicKey`), one text per key. */
export const X25519_PUBLIC_KEY_TEXT_PATTERN = `^x25519pub:${BASE64URL_32_BYTES}$`;
/** Canonical `ed25519pub:<base64url>` text (as produced by `formatPublicKey`). */
export const ED25519_PUBLIC_KEY_TEXT_PATTERN = `^ed25519pub:${BASE64URL_32_BYTES}$`;

export const Uuid = (description: string) => Type.String({ format: 'uuid', maxLength: 36, description });

export const DateTime = (description: string) =>
  Type.String({ format: 'date-time', maxLength: 40, description });

export const X25519PublicKeyText = (description: string) =>
  Type.String({ pattern: X25519_PUBLIC_KEY_TEXT_PATTERN, minLength: 53, maxLength: 53, description });

export const Ed25519PublicKeyText = (description: string) =>
  Type.String({ pattern: ED25519_PUBLIC_KEY_TEXT_PATTERN, minLength: 54, maxLength: 54, description });

export const NodeId = (description = 'Node id: lowercase slug such as `fra-1`.') =>
  Type.String({ pattern: NODE_ID_PATTERN_SOURCE, minLength: 1, maxLength: NODE_ID_MAX_LENGTH, description });

/** Region slug (`eu-central`), same alphabet as node ids. */
export const Region = (description = 'Region slug such as `eu-central`.') =>
  Type.String({ pattern: NODE_ID_PATTERN_SOURCE, minLength: 1, maxLength: 32, description });

/** Opaque secret or token: unpadded base64url, 16..512 characters. */
export const OpaqueToken = (description: string) =>
  Type.String({ pattern: '^[A-Za-z0-9_-]+$', minLength: 16, maxLength: 512, description });

/** Non-negative counter that stays exact in a JS number. */
export const Count = (description: string) =>
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description });

/** Load factor in [0, 1]. */
export const Load = (description = 'Load factor from 0 (idle) to 1 (full).') =>
  Type.Number({ minimum: 0, maximum: 1, description });

/** Semver-like software version string (`1.4.0`, `1.4.0-rc.1+abc`). */
export const SoftwareVersion = (description: string) =>
  Type.String({ pattern: '^[0-9A-Za-z.+-]+$', minLength: 1, maxLength: 64, description });

export const ProtocolVersionField = () =>
  Type.Integer({
    minimum: 1,
    maximum: 65535,
    description: 'Control/wire protocol version (`PROTOCOL_VERSION`).',
  });

/** Free-text display name: 1..64 characters, no control characters. */
export const DisplayName = (description: string) =>
  Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description });
