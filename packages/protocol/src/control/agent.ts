/** Node agent ↔ controller: heartbeats, revocation sync (plain and long-poll), online authorisation. */
import { Type, type Static } from 'typebox';
import {
  Count,
  DateTime,
  Load,
  ProtocolVersionField,
  SoftwareVersion,
  Uuid,
  X25519PublicKeyText,
} from './common.js';

/** Upper bound on sessions per heartbeat (and so on a heartbeat body's size). */
export const HEARTBEAT_MAX_SESSIONS = 10_000;
/** Upper bound on ids per list in one revocation response. */
export const REVOCATION_LIST_MAX_ITEMS = 100_000;

export const SessionReportSchema = Type.Object(
  {
    ticketId: Uuid('Ticket that admitted the session.'),
    deviceId: Uuid('Device of the session.'),
    userId: Uuid('User of the session.'),
    rxBytes: Count('Bytes received from the client since the session started.'),
    txBytes: Count('Bytes sent to the client since the session started.'),
    connectedAt: DateTime('Session start (RFC 3339).'),
  },
  { additionalProperties: false, description: 'Live counters of one session (cumulative, not deltas).' },
);
export type SessionReport = Static<typeof SessionReportSchema>;

/** Why a session ended, as the node saw it. Closed list: add here, never ad hoc. */
export const SESSION_END_REASONS = [
  'clientClosed',
  'idleTimeout',
  'ticketExpired',
  'revoked',
  'quotaExceeded',
  'replaced',
  'nodeShutdown',
] as const;
export type SessionEndReason = (typeof SESSION_END_REASONS)[number];

export const SessionEndSchema = Type.Object(
  {
    ticketId: Uuid('Ticket that admitted the session.'),
    deviceId: Uuid('Device of the session.'),
    userId: Uuid('User of the session.'),
    rxBytes: Count('Final bytes received from the client.'),
    txBytes: Count('Final bytes sent to the client.'),
    connectedAt: DateTime('Session start (RFC 3339), as reported while it was live.'),
    endedAt: DateTime('Session end (RFC 3339).'),
    reason: Type.Enum([...SESSION_END_REASONS], { description: 'Why the session ended.' }),
  },
  { additionalProperties: false, description: 'A session that ended since the previous heartbeat.' },
);
export type SessionEnd = Static<typeof SessionEndSchema>;

export const HeartbeatSchema = Type.Object(
  {
    protocolVersion: ProtocolVersionField(),
    agentVersion: SoftwareVersion('Node agent version.'),
    load: Load(),
    activeSessions: Count('Number of live sessions.'),
    sessions: Type.Array(SessionReportSchema, {
      maxItems: HEARTBEAT_MAX_SESSIONS,
      description: 'Per-session counters.',
    }),
    ended: Type.Optional(
      Type.Array(SessionEndSchema, {
        maxItems: HEARTBEAT_MAX_SESSIONS,
        description: 'Sessions that ended since the previous heartbeat, with final counters and reason.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Periodic node agent heartbeat.' },
);
export type Heartbeat = Static<typeof HeartbeatSchema>;

const Cursor = (description: string) =>
  Type.String({ pattern: '^[A-Za-z0-9_.:-]+$', minLength: 1, maxLength: 64, description });

export const HeartbeatResponseSchema = Type.Object(
  {
    revocationsCursor: Cursor(
      'Latest revocation cursor; fetch revocations when it differs from the cached one.',
    ),
    signingKeysVersion: Count('Latest signing key set version; refetch signing keys when it differs.'),
  },
  { description: 'What the agent should refresh.' },
);
export type HeartbeatResponse = Static<typeof HeartbeatResponseSchema>;

/** Longest long-poll a node may ask for on `GET /v1/agent/revocations?wait=`. */
export const REVOCATION_WAIT_MAX_S = 60;

export const RevocationListQuerySchema = Type.Object(
  {
    since: Type.Optional(Cursor('Cursor from the last response; omit for a full snapshot.')),
    wait: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: REVOCATION_WAIT_MAX_S,
        description:
          'Long poll, with `since`: hold the request up to this many seconds until a revocation newer than `since` ' +
          'is recorded (on any controller replica), then answer at once; at the deadline answer an empty delta ' +
          'with the same cursor. 0 or absent: answer at once.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Revocations since a cursor.' },
);
export type RevocationListQuery = Static<typeof RevocationListQuerySchema>;

const IdList = (description: string) =>
  Type.Array(Uuid('Revoked id.'), { maxItems: REVOCATION_LIST_MAX_ITEMS, description });

export const RevocationListSchema = Type.Object(
  {
    cursor: Cursor(
      'Opaque cursor to pass as `since` next time. Answers are paged (at most REVOCATION_LIST_MAX_ITEMS ' +
        'revocations each): when more remain, the next request returns them at once as a delta, also after a ' +
        'snapshot page.',
    ),
    reset: Type.Boolean({
      description:
        'True: a full snapshot that replaces the cached set (no `since`, or `since` too old). False: a delta to add.',
    }),
    tickets: IdList('Revoked ticket ids.'),
    devices: IdList('Revoked device ids (all their tickets).'),
    users: IdList('Disabled user ids (all their tickets).'),
  },
  { description: 'Revoked tickets, devices and users.' },
);
export type RevocationList = Static<typeof RevocationListSchema>;

/** Why the controller allowed or refused a session in online authorisation. Closed list. */
export const AUTHORIZE_REASONS = [
  'ok',
  'ticketUnknown',
  'wrongNode',
  'ticketExpired',
  'ticketRevoked',
  'deviceRevoked',
  'userDisabled',
  'wrongClientKey',
] as const;
export type AuthorizeReason = (typeof AUTHORIZE_REASONS)[number];

export const AuthorizeRequestSchema = Type.Object(
  {
    ticketId: Uuid('Ticket the client presented (already verified offline by the node).'),
    deviceId: Uuid('Device named in the ticket.'),
    userId: Uuid('User named in the ticket.'),
    clientPublicKey: X25519PublicKeyText('Client static key from the handshake, `x25519pub:<base64url>`.'),
  },
  {
    additionalProperties: false,
    description:
      'Node agent (online-auth on): may this new session start? The node is the authenticated caller.',
  },
);
export type AuthorizeRequest = Static<typeof AuthorizeRequestSchema>;

export const AuthorizeResponseSchema = Type.Object(
  {
    allow: Type.Boolean({ description: 'True: admit the session.' }),
    reason: Type.Enum([...AUTHORIZE_REASONS], { description: '`ok` when allowed, else why not.' }),
    cacheSeconds: Type.Integer({
      minimum: 0,
      maximum: 300,
      description: 'How long the node may reuse this answer for the same ticket and client key.',
    }),
  },
  { description: 'Online authorisation decision.' },
);
export type AuthorizeResponse = Static<typeof AuthorizeResponseSchema>;
