/**
 * The single error body every controller error uses, and the stable error codes. Clients switch on
 * `code` (never on `message`, which is human text and may change).
 */
import { Type, type Static } from 'typebox';

/** Stable machine-readable error codes, `CORRIDOR_ERR_*`. Append only; never rename. */
export const ERROR_CODES = {
  VALIDATION: 'CORRIDOR_ERR_VALIDATION',
  UNAUTHORIZED: 'CORRIDOR_ERR_UNAUTHORIZED',
  FORBIDDEN: 'CORRIDOR_ERR_FORBIDDEN',
  NOT_FOUND: 'CORRIDOR_ERR_NOT_FOUND',
  METHOD_NOT_ALLOWED: 'CORRIDOR_ERR_METHOD_NOT_ALLOWED',
  CONFLICT: 'CORRIDOR_ERR_CONFLICT',
  PAYLOAD_TOO_LARGE: 'CORRIDOR_ERR_PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'CORRIDOR_ERR_UNSUPPORTED_MEDIA_TYPE',
  RATE_LIMITED: 'CORRIDOR_ERR_RATE_LIMITED',
  INVALID_CREDENTIALS: 'CORRIDOR_ERR_INVALID_CREDENTIALS',
  ACCOUNT_DISABLED: 'CORRIDOR_ERR_ACCOUNT_DISABLED',
  TOKEN_EXPIRED: 'CORRIDOR_ERR_TOKEN_EXPIRED',
  TOKEN_INVALID: 'CORRIDOR_ERR_TOKEN_INVALID',
  TOKEN_REUSED: 'CORRIDOR_ERR_TOKEN_REUSED',
  DEVICE_LIMIT: 'CORRIDOR_ERR_DEVICE_LIMIT',
  DEVICE_KEY_IN_USE: 'CORRIDOR_ERR_DEVICE_KEY_IN_USE',
  NODE_OFFLINE: 'CORRIDOR_ERR_NODE_OFFLINE',
  NODE_NOT_ENROLLED: 'CORRIDOR_ERR_NODE_NOT_ENROLLED',
  ENROLLMENT_TOKEN_INVALID: 'CORRIDOR_ERR_ENROLLMENT_TOKEN_INVALID',
  PROTOCOL_VERSION_UNSUPPORTED: 'CORRIDOR_ERR_PROTOCOL_VERSION_UNSUPPORTED',
  SERVICE_UNAVAILABLE: 'CORRIDOR_ERR_SERVICE_UNAVAILABLE',
  INTERNAL: 'CORRIDOR_ERR_INTERNAL',
  REQUEST_TIMEOUT: 'CORRIDOR_ERR_REQUEST_TIMEOUT',
  HEADERS_TOO_LARGE: 'CORRIDOR_ERR_HEADERS_TOO_LARGE',
  DEVICE_REVOKED: 'CORRIDOR_ERR_DEVICE_REVOKED',
  URI_TOO_LONG: 'CORRIDOR_ERR_URI_TOO_LONG',
} as const;

export type ErrorCodeName = keyof typeof ERROR_CODES;
export type ErrorCode = (typeof ERROR_CODES)[ErrorCodeName];

/** The HTTP status each code is sent with (one status per code, so clients can rely on both). */
export const ERROR_HTTP_STATUS: { readonly [K in ErrorCode]: number } = {
  CORRIDOR_ERR_VALIDATION: 400,
  CORRIDOR_ERR_UNAUTHORIZED: 401,
  CORRIDOR_ERR_FORBIDDEN: 403,
  CORRIDOR_ERR_NOT_FOUND: 404,
  CORRIDOR_ERR_METHOD_NOT_ALLOWED: 405,
  CORRIDOR_ERR_CONFLICT: 409,
  CORRIDOR_ERR_PAYLOAD_TOO_LARGE: 413,
  CORRIDOR_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  CORRIDOR_ERR_RATE_LIMITED: 429,
  CORRIDOR_ERR_INVALID_CREDENTIALS: 401,
  CORRIDOR_ERR_ACCOUNT_DISABLED: 403,
  CORRIDOR_ERR_TOKEN_EXPIRED: 401,
  CORRIDOR_ERR_TOKEN_INVALID: 401,
  CORRIDOR_ERR_TOKEN_REUSED: 401,
  CORRIDOR_ERR_DEVICE_LIMIT: 409,
  CORRIDOR_ERR_DEVICE_KEY_IN_USE: 409,
  CORRIDOR_ERR_NODE_OFFLINE: 503,
  CORRIDOR_ERR_NODE_NOT_ENROLLED: 409,
  CORRIDOR_ERR_ENROLLMENT_TOKEN_INVALID: 401,
  CORRIDOR_ERR_PROTOCOL_VERSION_UNSUPPORTED: 400,
  CORRIDOR_ERR_SERVICE_UNAVAILABLE: 503,
  CORRIDOR_ERR_INTERNAL: 500,
  CORRIDOR_ERR_REQUEST_TIMEOUT: 408,
  CORRIDOR_ERR_HEADERS_TOO_LARGE: 431,
  CORRIDOR_ERR_DEVICE_REVOKED: 403,
  CORRIDOR_ERR_URI_TOO_LONG: 414,
};

const ALL_ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ERROR_CODES));

/** True when `value` is one of the known codes (clients must still handle unknown codes). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && ALL_ERROR_CODES.has(value);
}

export const ErrorBodySchema = Type.Object(
  {
    statusCode: Type.Integer({ minimum: 400, maximum: 599, description: 'HTTP status code, repeated.' }),
    code: Type.String({
      pattern: '^CORRIDOR_ERR_[A-Z0-9_]+$',
      maxLength: 64,
      description: 'Stable machine-readable code (`ERROR_CODES`). Clients must tolerate unknown codes.',
    }),
    error: Type.String({ maxLength: 64, description: 'HTTP reason phrase, e.g. `Bad Request`.' }),
    message: Type.String({
      maxLength: 1024,
      description: 'Human-readable text; never parse it. 5xx hides internals.',
    }),
    details: Type.Optional(
      Type.Array(
        Type.Object(
          {
            path: Type.String({ maxLength: 256, description: 'JSON pointer of the offending field.' }),
            message: Type.String({ maxLength: 256, description: 'What is wrong with it.' }),
          },
          { description: 'One validation problem.' },
        ),
        { maxItems: 32, description: 'Validation problems, when `code` is `CORRIDOR_ERR_VALIDATION`.' },
      ),
    ),
  },
  { description: 'Error body returned with every 4xx and 5xx response.' },
);
export type ErrorBody = Static<typeof ErrorBodySchema>;
