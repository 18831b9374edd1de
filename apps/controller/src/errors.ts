/**
 * The controller's one error handler and its error type. Every error leaves as an ErrorBody
 * `{statusCode, code, error, message}` with a stable `CORRIDOR_ERR_*` code; client mistakes are
 * 4xx; anything unexpected is a 500 whose message hides internals (details go to the log only).
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, ERROR_HTTP_STATUS, type ErrorBody, type ErrorCode } from '@corridor/protocol/control';
import { StoreUnavailableError } from './store/store.js';

export { ERROR_CODES };

/** A failure the client can act on. The HTTP status is implied by the code. */
export class AppError extends Error {
  override name = 'AppError';
  readonly statusCode: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.statusCode = ERROR_HTTP_STATUS[code];
  }
}

export function errorBody(
  statusCode: number,
  code: string,
  message: string,
  details?: ErrorBody['details'],
): ErrorBody {
  const body: ErrorBody = { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
  if (details !== undefined) body.details = details;
  return body;
}

/** Retry-After of 503s caused by the database or the shared store being saturated or unavailable. */
const DATABASE_RETRY_AFTER_S = 2;

/**
 * SQLSTATEs that mean "the database cannot serve this right now" (retryable, not a bug):
 * query_canceled (statement_timeout), lock_not_available, too_many_connections, cannot_connect_now,
 * admin_shutdown, idle_in_transaction_session_timeout.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57014', '55P03', '53300', '57P03', '57P01', '25P03']);
/** Prisma: a transaction could not start within maxWait, or expired; the database is unreachable or timed out. */
const UNAVAILABLE_PRISMA_CODES = new Set(['P2028', 'P1001', 'P1008', 'P1017', 'P2037']);
/** Messages of errors without a code: pg-pool waited too long, or a connection dropped. */
const UNAVAILABLE_MESSAGES = [
  'timeout exceeded when trying to connect',
  'Connection terminated',
  'Query read timeout',
];

/**
 * True when `error` (or an error it wraps: `cause`, Prisma's `meta.driverAdapterError`) says the
 * database was saturated or unreachable rather than that the request was wrong or the code buggy.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const e = error as {
    code?: unknown;
    originalCode?: unknown;
    kind?: unknown;
    message?: unknown;
    cause?: unknown;
    meta?: { driverAdapterError?: unknown };
  };
  if (
    typeof e.code === 'string' &&
    (UNAVAILABLE_SQLSTATES.has(e.code) || UNAVAILABLE_PRISMA_CODES.has(e.code))
  )
    return true;
  if (typeof e.originalCode === 'string' && UNAVAILABLE_SQLSTATES.has(e.originalCode)) return true;
  if (e.kind === 'DatabaseNotReachable' || e.kind === 'SocketTimeout' || e.kind === 'TooManyConnections')
    return true;
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.some((m) => (e.message as string).includes(m)))
    return true;
  return (
    isDatabaseUnavailable(e.cause, depth + 1) || isDatabaseUnavailable(e.meta?.driverAdapterError, depth + 1)
  );
}

/** Fastify's own client-error codes mapped onto ours. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ERROR_CODES.PAYLOAD_TOO_LARGE,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ERROR_CODES.UNSUPPORTED_MEDIA_TYPE,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ERROR_CODES.VALIDATION,
  FST_ERR_CTP_EMPTY_JSON_BODY: ERROR_CODES.VALIDATION,
  FST_ERR_CTP_INVALID_JSON_BODY: ERROR_CODES.VALIDATION,
  FST_ERR_VALIDATION: ERROR_CODES.VALIDATION,
  FST_JWT_NO_AUTHORIZATION_IN_HEADER: ERROR_CODES.UNAUTHORIZED,
  FST_JWT_AUTHORIZATION_TOKEN_EXPIRED: ERROR_CODES.TOKEN_EXPIRED,
  FST_JWT_AUTHORIZATION_TOKEN_INVALID: ERROR_CODES.TOKEN_INVALID,
  FST_JWT_AUTHORIZATION_TOKEN_UNTRUSTED: ERROR_CODES.TOKEN_INVALID,
  FST_JWT_BAD_REQUEST: ERROR_CODES.TOKEN_INVALID,
};

const STATUS_FALLBACK: Record<number, ErrorCode> = {
  400: ERROR_CODES.VALIDATION,
  401: ERROR_CODES.UNAUTHORIZED,
  403: ERROR_CODES.FORBIDDEN,
  404: ERROR_CODES.NOT_FOUND,
  405: ERROR_CODES.METHOD_NOT_ALLOWED,
  409: ERROR_CODES.CONFLICT,
  413: ERROR_CODES.PAYLOAD_TOO_LARGE,
  415: ERROR_CODES.UNSUPPORTED_MEDIA_TYPE,
  429: ERROR_CODES.RATE_LIMITED,
};

function validationDetails(error: FastifyError): ErrorBody['details'] {
  return (error.validation ?? []).slice(0, 32).map((v) => ({
    path: `${error.validationContext ?? ''}${v.instancePath ?? ''}`.slice(0, 256),
    message: (v.message ?? 'is invalid').slice(0, 256),
  }));
}

export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof AppError) {
      void reply.headers(error.headers);
      return reply.code(error.statusCode).send(errorBody(error.statusCode, error.code, error.message));
    }
    if (error.validation) {
      return reply
        .code(400)
        .send(
          errorBody(
            400,
            ERROR_CODES.VALIDATION,
            `invalid ${error.validationContext ?? 'request'}`,
            validationDetails(error),
          ),
        );
    }
    if (isDatabaseUnavailable(error) || error instanceof StoreUnavailableError) {
      // Overload or a database that cannot answer now: the client may retry; not a bug to trace.
      request.log.warn({ reason: (error as Error).message?.slice(0, 200) }, 'database or store unavailable');
      void reply.header('retry-after', String(DATABASE_RETRY_AFTER_S));
      return reply
        .code(503)
        .send(errorBody(503, ERROR_CODES.SERVICE_UNAVAILABLE, 'the service is busy; retry shortly'));
    }
    const mapped = error.code ? FASTIFY_CODES[error.code] : undefined;
    const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (mapped !== undefined || (status >= 400 && status < 500)) {
      const code = mapped ?? STATUS_FALLBACK[status] ?? ERROR_CODES.VALIDATION;
      const httpStatus = mapped !== undefined ? ERROR_HTTP_STATUS[mapped] : status;
      return reply.code(httpStatus).send(errorBody(httpStatus, code, safeClientMessage(error, code)));
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(errorBody(500, ERROR_CODES.INTERNAL, 'internal server error'));
  });

  app.setNotFoundHandler((request, reply) => {
    return reply
      .code(404)
      .send(
        errorBody(
          404,
          ERROR_CODES.NOT_FOUND,
          `route ${request.method} ${request.url.split('?')[0]} not found`,
        ),
      );
  });
}

/** Client-facing text for framework errors: short and free of internals. */
function safeClientMessage(error: FastifyError, code: ErrorCode): string {
  switch (code) {
    case ERROR_CODES.PAYLOAD_TOO_LARGE:
      return 'request body is too large';
    case ERROR_CODES.UNSUPPORTED_MEDIA_TYPE:
      return 'unsupported content type; send application/json';
    case ERROR_CODES.TOKEN_EXPIRED:
      return 'access token expired';
    case ERROR_CODES.TOKEN_INVALID:
      return 'access token invalid';
    case ERROR_CODES.UNAUTHORIZED:
      return 'authentication required';
    default:
      return (error.message || 'bad request').slice(0, 200);
  }
}

/**
 * Errors Fastify's router raises before routing (a URL that does not percent-decode to valid
 * UTF-8, a path parameter longer than the router allows): answered like every other error instead
 * of Fastify's own body, and without echoing the URL.
 */
export function frameworkErrorHandler(
  error: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const code = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? ERROR_CODES.URI_TOO_LONG : ERROR_CODES.VALIDATION;
  const status = ERROR_HTTP_STATUS[code];
  const message =
    code === ERROR_CODES.URI_TOO_LONG
      ? 'a path segment of the URL is too long'
      : error.code === 'FST_ERR_BAD_URL'
        ? 'the URL does not decode to valid UTF-8'
        : 'malformed request';
  void reply.code(status).send(errorBody(status, code, message));
}

/** How long a socket answered by `clientErrorHandler` may linger for the peer to read and close. */
const CLIENT_ERROR_LINGER_MS = 2_000;

/**
 * Answers errors the HTTP parser raises before Fastify sees a request (a malformed request line,
 * oversized headers, a request that did not arrive in time) with our JSON error body and
 * `Connection: close`, then closes the socket gracefully: a FIN after the response, and input read
 * and discarded until the peer closes (or CLIENT_ERROR_LINGER_MS), so unread bytes do not turn the
 * close into a reset that would destroy the answer. Fastify's default writes no `Connection: close`
 * and destroys the socket at once, so keep-alive clients see a reset instead of a reason.
 */
export function clientErrorHandler(
  this: { log?: { debug(o: object, msg: string): void } } | undefined,
  err: NodeJS.ErrnoException,
  socket: Socket,
): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  this?.log?.debug({ code: err.code }, 'client error answered and connection closed');
  const code: ErrorCode =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? ERROR_CODES.REQUEST_TIMEOUT
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? ERROR_CODES.HEADERS_TOO_LARGE
        : ERROR_CODES.VALIDATION;
  const status = ERROR_HTTP_STATUS[code];
  const message =
    code === ERROR_CODES.REQUEST_TIMEOUT
      ? 'the request did not arrive in time'
      : code === ERROR_CODES.HEADERS_TOO_LARGE
        ? 'request headers are too large'
        : 'malformed HTTP request';
  const body = JSON.stringify(errorBody(status, code, message));
  const linger = setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
  socket.on('error', () => socket.destroy());
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  } else {
    socket.destroy();
    return;
  }
  socket.resume();
}
