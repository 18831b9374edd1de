/** Admin-only request/response schemas (not shared with the agent or CLI). */
import { Type, type Static } from 'typebox';
import {
  CountryCode,
  DateTime,
  DisplayName,
  NodeEndpointSchema,
  NodeId,
  Region,
  SESSION_END_REASONS,
  Uuid,
  X25519PublicKeyText,
} from '@corridor/protocol/control';
import { PageCursor, PageLimit, Paginated, SortOrder } from './common.js';

export const AdminUserSchema = Type.Object(
  {
    id: Uuid('User id.'),
    email: Type.String({ maxLength: 254 }),
    role: Type.Enum(['user', 'admin']),
    disabled: Type.Boolean(),
    disabledAt: Type.Union([DateTime('When disabled.'), Type.Null()]),
    createdAt: DateTime('Creation time.'),
    lastLoginAt: Type.Union([DateTime('Last successful login.'), Type.Null()]),
    bandwidthBytesPerSec: Type.Integer({ minimum: 0, description: '0 = unlimited.' }),
    dataQuotaBytes: Type.Integer({ minimum: 0, description: '0 = unlimited.' }),
  },
  { description: 'A user as admins see it.' },
);
export type AdminUser = Static<typeof AdminUserSchema>;

export const AdminUserListSchema = Paginated(AdminUserSchema, 'A page of users.');

export const UserListQuerySchema = Type.Object(
  {
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'Substring of the e-mail.' })),
    role: Type.Optional(Type.Enum(['user', 'admin'])),
    disabled: Type.Optional(Type.Boolean()),
    limit: Type.Optional(PageLimit),
    cursor: Type.Optional(PageCursor),
    order: Type.Optional(SortOrder),
  },
  { additionalProperties: false },
);

export const UserCreateRequestSchema = Type.Object(
  {
    email: Type.String({ format: 'email', minLength: 3, maxLength: 254 }),
    password: Type.String({ minLength: 10, maxLength: 1024 }),
    role: Type.Optional(Type.Enum(['user', 'admin'], { default: 'user' })),
    bandwidthBytesPerSec: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    dataQuotaBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  },
  { additionalProperties: false, description: 'Admin: create a user.' },
);

export const UserParamsSchema = Type.Object({ userId: Uuid('User id.') }, { additionalProperties: false });
export const DeviceIdParamsSchema = Type.Object(
  { deviceId: Uuid('Device id.') },
  { additionalProperties: false },
);
export const TicketIdParamsSchema = Type.Object(
  { ticketId: Uuid('Ticket id.') },
  { additionalProperties: false },
);
export const NodeIdParamsSchema = Type.Object({ nodeId: NodeId() }, { additionalProperties: false });

export const RevokeRequestSchema = Type.Object(
  { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) },
  { additionalProperties: false, description: 'Optional reason, kept in the audit log.' },
);

export const RevocationResultSchema = Type.Object({
  revocationId: Type.String({ maxLength: 20 }),
  kind: Type.Enum(['user', 'device', 'ticket']),
  subjectId: Uuid('Revoked id.'),
});

export const AdminDeviceSchema = Type.Object({
  id: Uuid('Device id.'),
  userId: Uuid('Owner.'),
  name: DisplayName('Device name.'),
  publicKey: X25519PublicKeyText('Device key.'),
  createdAt: DateTime('Registered.'),
  revokedAt: Type.Union([DateTime('Revoked.'), Type.Null()]),
  lastSeenAt: Type.Union([DateTime('Last ticket.'), Type.Null()]),
});
export const AdminDeviceListSchema = Type.Object({
  devices: Type.Array(AdminDeviceSchema, { maxItems: 1000 }),
});

export const AdminNodeSchema = Type.Object({
  id: NodeId(),
  region: Region(),
  country: CountryCode(),
  city: DisplayName('City.'),
  endpoint: NodeEndpointSchema,
  publicKey: Type.Union([X25519PublicKeyText('Node static key.'), Type.Null()]),
  enrolled: Type.Boolean(),
  enrolledAt: Type.Union([DateTime('Enrollment time.'), Type.Null()]),
  disabled: Type.Boolean(),
  online: Type.Boolean(),
  load: Type.Number({ minimum: 0, maximum: 1 }),
  activeSessions: Type.Integer({ minimum: 0 }),
  agentVersion: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
  lastSeenAt: Type.Union([DateTime('Last heartbeat stored.'), Type.Null()]),
  createdAt: DateTime('Created.'),
});
export const AdminNodeListSchema = Paginated(AdminNodeSchema, 'A page of nodes.');
export const NodeAdminListQuerySchema = Type.Object(
  {
    region: Type.Optional(Region()),
    enrolled: Type.Optional(Type.Boolean()),
    limit: Type.Optional(PageLimit),
    cursor: Type.Optional(PageCursor),
    order: Type.Optional(SortOrder),
  },
  { additionalProperties: false },
);

export const SessionSchema = Type.Object({
  id: Uuid('Session id.'),
  nodeId: NodeId(),
  ticketId: Uuid('Ticket.'),
  userId: Uuid('User.'),
  deviceId: Uuid('Device.'),
  startedAt: DateTime('Start.'),
  lastSeenAt: DateTime('Last report.'),
  endedAt: Type.Union([DateTime('End.'), Type.Null()]),
  endReason: Type.Union([Type.Enum([...SESSION_END_REASONS]), Type.Null()], {
    description: 'Why the session ended, as its node reported it; null while live or when it just vanished.',
  }),
  active: Type.Boolean(),
  rxBytes: Type.Integer({ minimum: 0 }),
  txBytes: Type.Integer({ minimum: 0 }),
});
export const SessionListSchema = Paginated(SessionSchema, 'A page of sessions, newest first by default.');
export const SessionListQuerySchema = Type.Object(
  {
    active: Type.Optional(Type.Boolean({ description: 'true: live sessions; false: ended ones.' })),
    nodeId: Type.Optional(NodeId()),
    userId: Type.Optional(Uuid('User.')),
    deviceId: Type.Optional(Uuid('Device.')),
    from: Type.Optional(DateTime('Started at or after.')),
    to: Type.Optional(DateTime('Started before.')),
    limit: Type.Optional(PageLimit),
    cursor: Type.Optional(PageCursor),
    order: Type.Optional(SortOrder),
  },
  { additionalProperties: false },
);

const Day = Type.String({ format: 'date', maxLength: 10, description: 'UTC day, YYYY-MM-DD.' });
export const UsageQuerySchema = Type.Object(
  {
    groupBy: Type.Optional(Type.Enum(['user', 'node', 'day'], { default: 'day' })),
    userId: Type.Optional(Uuid('Only this user.')),
    nodeId: Type.Optional(NodeId()),
    from: Type.Optional(Day),
    to: Type.Optional(Day),
    limit: Type.Optional(PageLimit),
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, default: 1 })),
  },
  { additionalProperties: false },
);
export const UserUsageQuerySchema = Type.Object(
  {
    from: Type.Optional(Day),
    to: Type.Optional(Day),
    limit: Type.Optional(PageLimit),
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, default: 1 })),
  },
  { additionalProperties: false },
);
export const UsageListSchema = Type.Object({
  groupBy: Type.Enum(['user', 'node', 'day']),
  items: Type.Array(
    Type.Object({
      key: Type.String({ maxLength: 64 }),
      rxBytes: Type.Integer({ minimum: 0 }),
      txBytes: Type.Integer({ minimum: 0 }),
    }),
    { maxItems: 200 },
  ),
  page: Type.Integer({ minimum: 1 }),
  total: Type.Integer({ minimum: 0, description: 'Number of groups.' }),
});

export const AuditEventSchema = Type.Object({
  id: Type.String({ maxLength: 20 }),
  actorType: Type.String({ maxLength: 16 }),
  actorId: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
  action: Type.String({ maxLength: 64 }),
  targetType: Type.Union([Type.String({ maxLength: 32 }), Type.Null()]),
  targetId: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
  ip: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
  details: Type.Union([
    Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])),
    Type.Null(),
  ]),
  createdAt: DateTime('When.'),
});
export const AuditListSchema = Paginated(AuditEventSchema, 'A page of audit events.');
export const AuditQuerySchema = Type.Object(
  {
    actorId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    action: Type.Optional(Type.String({ pattern: '^[a-z0-9._-]+$', minLength: 1, maxLength: 64 })),
    targetId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    from: Type.Optional(DateTime('At or after.')),
    to: Type.Optional(DateTime('Before.')),
    limit: Type.Optional(PageLimit),
    cursor: Type.Optional(PageCursor),
    order: Type.Optional(SortOrder),
  },
  { additionalProperties: false },
);

export const SigningKeyAdminListSchema = Type.Object({
  keys: Type.Array(
    Type.Object({
      keyId: Type.Integer({ minimum: 0 }),
      publicKey: Type.String({ maxLength: 64 }),
      notBefore: DateTime('Signs from.'),
      notAfter: DateTime('Published until.'),
    }),
    { maxItems: 64 },
  ),
  version: Type.Integer({ minimum: 0 }),
});
export const RotateResultSchema = Type.Object({ keyId: Type.Integer({ minimum: 0 }) });
