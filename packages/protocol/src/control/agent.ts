/** Node agent ↔ controller: heartbeats and revocation sync. */
import { Type, type Static } from 'typebox';
import { Count, DateTime, Load, ProtocolVersionField, SoftwareVersion, Uuid } from './common.js';

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

export const RevocationListQuerySchema = Type.Object(
  { since: Type.Optional(Cursor('Cursor from the last response; omit for a full snapshot.')) },
  { additionalProperties: false, description: 'Revocations since a cursor.' },
);
export type RevocationListQuery = Static<typeof RevocationListQuerySchema>;

const IdList = (description: string) =>
  Type.Array(Uuid('Revoked id.'), { maxItems: REVOCATION_LIST_MAX_ITEMS, description });

export const RevocationListSchema = Type.Object(
  {
    cursor: Cursor('Opaque cursor to pass as `since` next time.'),
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
