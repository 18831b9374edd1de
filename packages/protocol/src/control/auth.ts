/** User authentication: password login, rotating refresh tokens, logout. */
import { Type, type Static } from 'typebox';
import { OpaqueToken, Uuid } from './common.js';

export const LoginRequestSchema = Type.Object(
  {
    email: Type.String({
      format: 'email',
      minLength: 3,
      maxLength: 254,
      description: 'Account e-mail address.',
    }),
    password: Type.String({
      minLength: 1,
      maxLength: 1024,
      description: 'Account password. Bounded so that hashing cost stays bounded.',
    }),
  },
  { additionalProperties: false, description: 'Log in with e-mail and password.' },
);
export type LoginRequest = Static<typeof LoginRequestSchema>;

export const UserRoleSchema = Type.Enum(['user', 'admin'], { description: 'Account role.' });
export type UserRole = Static<typeof UserRoleSchema>;

export const UserSummarySchema = Type.Object(
  {
    id: Uuid('User id.'),
    email: Type.String({ format: 'email', maxLength: 254, description: 'Account e-mail address.' }),
    role: UserRoleSchema,
  },
  { description: 'The authenticated user.' },
);
export type UserSummary = Static<typeof UserSummarySchema>;

export const TokenResponseSchema = Type.Object(
  {
    accessToken: Type.String({
      minLength: 16,
      maxLength: 4096,
      description: 'Short-lived JWT for `Authorization: Bearer`.',
    }),
    tokenType: Type.Literal('Bearer', { description: 'Always `Bearer`.' }),
    expiresIn: Type.Integer({ minimum: 1, description: 'Access token lifetime in seconds.' }),
    refreshToken: OpaqueToken('Opaque single-use refresh token; a new one is returned on every refresh.'),
    refreshExpiresIn: Type.Integer({ minimum: 1, description: 'Refresh token lifetime in seconds.' }),
    user: UserSummarySchema,
  },
  { description: 'Tokens issued by login and refresh.' },
);
export type TokenResponse = Static<typeof TokenResponseSchema>;

export const RefreshRequestSchema = Type.Object(
  {
    refreshToken: OpaqueToken(
      'Refresh token from the last TokenResponse. Presenting a used token revokes the whole token family.',
    ),
  },
  { additionalProperties: false, description: 'Exchange a refresh token for new tokens (rotation).' },
);
export type RefreshRequest = Static<typeof RefreshRequestSchema>;

export const LogoutRequestSchema = Type.Object(
  { refreshToken: OpaqueToken('Refresh token to revoke.') },
  { additionalProperties: false, description: 'Revoke a refresh token (and its family).' },
);
export type LogoutRequest = Static<typeof LogoutRequestSchema>;
