/** Controller ticket-signing keys, cached by node agents to verify tickets offline. */
import { Type, type Static } from 'typebox';
import { Count, DateTime, Ed25519PublicKeyText } from './common.js';

export const SigningKeySchema = Type.Object(
  {
    keyId: Type.Integer({
      minimum: 0,
      maximum: 0xffff_ffff,
      description: 'Key id (u32) carried in every ticket.',
    }),
    publicKey: Ed25519PublicKeyText('Ed25519 public key, `ed25519pub:<base64url>`.'),
    notBefore: DateTime('Tickets signed by this key are accepted from this time (RFC 3339).'),
    notAfter: DateTime('Tickets signed by this key are accepted until this time (RFC 3339).'),
  },
  { description: 'A controller ticket-signing key.' },
);
export type SigningKey = Static<typeof SigningKeySchema>;

export const SigningKeyListSchema = Type.Object(
  {
    version: Count('Version of this key set; equals `signingKeysVersion` in heartbeat responses.'),
    keys: Type.Array(SigningKeySchema, { maxItems: 64, description: 'Current and next keys.' }),
  },
  { description: 'Controller ticket-signing keys.' },
);
export type SigningKeyList = Static<typeof SigningKeyListSchema>;
