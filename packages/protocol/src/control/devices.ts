/** User devices: each holds a static X25519 key pair; the public key is bound into node tickets. */
import { Type, type Static } from 'typebox';
import { DateTime, DisplayName, Uuid, X25519PublicKeyText } from './common.js';

export const DeviceRegisterRequestSchema = Type.Object(
  {
    name: DisplayName('Device name shown to the user, e.g. `laptop`.'),
    publicKey: X25519PublicKeyText('Device static public key, `x25519pub:<base64url>`.'),
  },
  { additionalProperties: false, description: 'Register a device and its static public key.' },
);
export type DeviceRegisterRequest = Static<typeof DeviceRegisterRequestSchema>;

export const DeviceRenameRequestSchema = Type.Object(
  { name: DisplayName('New device name.') },
  { additionalProperties: false, description: 'Rename a device.' },
);
export type DeviceRenameRequest = Static<typeof DeviceRenameRequestSchema>;

export const DeviceSchema = Type.Object(
  {
    id: Uuid('Device id.'),
    name: DisplayName('Device name.'),
    publicKey: X25519PublicKeyText('Device static public key, `x25519pub:<base64url>`.'),
    createdAt: DateTime('When the device was registered (RFC 3339).'),
    lastSeenAt: Type.Union([DateTime('Last ticket issued or session seen (RFC 3339).'), Type.Null()], {
      description: 'Last activity, or null if never used.',
    }),
  },
  { description: 'A registered device.' },
);
export type Device = Static<typeof DeviceSchema>;

export const DeviceListSchema = Type.Object(
  { devices: Type.Array(DeviceSchema, { maxItems: 1000, description: 'The user’s devices.' }) },
  { description: 'Devices of the authenticated user.' },
);
export type DeviceList = Static<typeof DeviceListSchema>;

export const DeviceParamsSchema = Type.Object(
  { deviceId: Uuid('Device id.') },
  { additionalProperties: false, description: 'Route parameters naming a device.' },
);
export type DeviceParams = Static<typeof DeviceParamsSchema>;
