/** Request/response schemas of the dashboard's own routes (overview, traffic, cookie session). */
import { Type } from 'typebox';
import { DateTime, NodeId, Region, Uuid } from '@corridor/protocol/control';

const Count = (description: string) => Type.Integer({ minimum: 0, description });

export const OverviewSchema = Type.Object(
  {
    generatedAt: DateTime('When the counts were taken.'),
    nodes: Type.Object({
      total: Count('All nodes.'),
      online: Count('Enabled nodes heartbeating now.'),
      offline: Count('Enabled, enrolled nodes not heartbeating.'),
      notEnrolled: Count('Enabled nodes whose agent has not enrolled yet.'),
      disabled: Count('Disabled by an admin.'),
      byRegion: Type.Array(
        Type.Object({
          region: Region(),
          online: Count('Online.'),
          offline: Count('Offline (enrolled, not heartbeating).'),
          notEnrolled: Count('Not enrolled yet.'),
          disabled: Count('Disabled.'),
        }),
        { maxItems: 1000 },
      ),
    }),
    sessions: Type.Object({
      active: Count('Sessions not ended, on nodes heartbeating now.'),
      onOfflineNodes: Count(
        'Sessions not ended on nodes that stopped heartbeating: their node never reported them ended, so whether they still run is unknown.',
      ),
    }),
    users: Type.Object({
      total: Count('Accounts.'),
      activeToday: Count('Users with traffic today (UTC).'),
    }),
    failedLogins24h: Count('Failed password logins in the last 24 hours.'),
  },
  { description: 'Dashboard overview counts.' },
);

export const TrafficQuerySchema = Type.Object(
  {
    range: Type.Enum(['24h', '7d'], {
      description: '24h: hourly buckets (estimated from sessions); 7d: daily buckets (usage rows).',
    }),
    nodeId: Type.Optional(NodeId()),
    top: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 20, default: 5, description: 'How many busiest nodes to list.' }),
    ),
  },
  { additionalProperties: false },
);

const Bytes = Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 24 });

export const TrafficSchema = Type.Object(
  {
    range: Type.Enum(['24h', '7d']),
    method: Type.Enum(['sessions-estimate', 'usage-daily'], {
      description:
        'sessions-estimate: each session’s bytes spread evenly over its lifetime; usage-daily: exact per UTC day.',
    }),
    bucketSeconds: Type.Integer({ minimum: 1 }),
    buckets: Type.Array(DateTime('Bucket start.'), { maxItems: 24 }),
    total: Type.Object({ rxBytes: Bytes, txBytes: Bytes }),
    nodes: Type.Array(Type.Object({ nodeId: NodeId(), rxBytes: Bytes, txBytes: Bytes }), { maxItems: 20 }),
  },
  { description: 'Traffic per bucket: rx = from clients, tx = to clients.' },
);

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

export const UserEmailsQuerySchema = Type.Object(
  {
    ids: Type.String({
      pattern: `^${UUID}(,${UUID}){0,199}$`,
      maxLength: 200 * 37,
      description: 'Up to 200 user ids, comma-separated.',
    }),
  },
  { additionalProperties: false },
);

export const UserEmailsSchema = Type.Object(
  {
    items: Type.Array(Type.Object({ id: Uuid('User id.'), email: Type.String({ maxLength: 254 }) }), {
      maxItems: 200,
    }),
  },
  { description: 'The e-mails of the requested users that exist.' },
);

export const DashboardSessionSchema = Type.Object(
  {
    user: Type.Object({ id: Uuid('Admin id.'), email: Type.String({ maxLength: 254 }) }),
    csrfToken: Type.String({
      minLength: 43,
      maxLength: 43,
      description: 'Send as `X-CSRF-Token` with every request made with the session cookie.',
    }),
    expiresAt: DateTime('Absolute end of the session.'),
  },
  { description: 'The dashboard session (the cookie itself is HttpOnly).' },
);
