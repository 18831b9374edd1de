/** Nodes as users see them, and node administration / enrollment. */
import { Type, type Static } from 'typebox';
import {
  Count,
  DateTime,
  DisplayName,
  Load,
  NodeId,
  OpaqueToken,
  ProtocolVersionField,
  Region,
  SoftwareVersion,
  X25519PublicKeyText,
} from './common.js';
import { SigningKeySchema } from './signing-keys.js';

const Port = (description: string) => Type.Integer({ minimum: 1, maximum: 65535, description });

export const NodeEndpointSchema = Type.Object(
  {
    host: Type.Union(
      [
        Type.String({ format: 'ipv4', maxLength: 15 }),
        Type.String({ format: 'ipv6', maxLength: 45 }),
        Type.String({ format: 'hostname', minLength: 1, maxLength: 253 }),
      ],
      { description: 'Public address clients dial: IPv4, IPv6 (no brackets) or DNS name.' },
    ),
    udpPort: Port('UDP port of the tunnel (default transport).'),
    tcpPort: Port('TCP port of the tunnel (fallback transport, length-prefixed frames).'),
  },
  { additionalProperties: false, description: 'Where a node accepts tunnels.' },
);
export type NodeEndpoint = Static<typeof NodeEndpointSchema>;

export const CountryCode = () =>
  Type.String({
    pattern: '^[A-Z]{2}$',
    minLength: 2,
    maxLength: 2,
    description: 'ISO 3166-1 alpha-2 country code.',
  });

export const NodeSummarySchema = Type.Object(
  {
    id: NodeId(),
    region: Region(),
    country: CountryCode(),
    city: DisplayName('City name.'),
    endpoint: NodeEndpointSchema,
    publicKey: Type.Union(
      [X25519PublicKeyText('Node static public key, `x25519pub:<base64url>`.'), Type.Null()],
      { description: 'Node static public key; null until the node has enrolled.' },
    ),
    online: Type.Boolean({ description: 'True while the node heartbeats.' }),
    load: Load(),
    activeSessions: Count('Sessions reported by the last heartbeat.'),
  },
  { description: 'A node as listed to users.' },
);
export type NodeSummary = Static<typeof NodeSummarySchema>;

export const NodeListSchema = Type.Object(
  { nodes: Type.Array(NodeSummarySchema, { maxItems: 10000, description: 'Nodes.' }) },
  { description: 'List of nodes.' },
);
export type NodeList = Static<typeof NodeListSchema>;

export const NodeListQuerySchema = Type.Object(
  {
    region: Type.Optional(Region('Only nodes in this region.')),
    auto: Type.Optional(
      Type.Enum(['true', 'false'], {
        description: '`true`: return only the best node (online, lowest load) for the filter.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Filters for listing nodes.' },
);
export type NodeListQuery = Static<typeof NodeListQuerySchema>;

export const NodeParamsSchema = Type.Object(
  { id: NodeId() },
  { additionalProperties: false, description: 'Route parameters naming a node (`/v1/nodes/:id`).' },
);
export type NodeParams = Static<typeof NodeParamsSchema>;

export const NodeCreateRequestSchema = Type.Object(
  {
    id: NodeId(),
    region: Region(),
    country: CountryCode(),
    city: DisplayName('City name.'),
    endpoint: NodeEndpointSchema,
  },
  { additionalProperties: false, description: 'Admin: declare a node; returns a one-time enrollment token.' },
);
export type NodeCreateRequest = Static<typeof NodeCreateRequestSchema>;

export const NodeEnrollmentTokenSchema = Type.Object(
  {
    nodeId: NodeId(),
    enrollmentToken: OpaqueToken('One-time secret the node agent presents to enroll. Shown once.'),
    expiresAt: DateTime('Enrollment deadline (RFC 3339).'),
  },
  { description: 'One-time enrollment token for a node.' },
);
export type NodeEnrollmentToken = Static<typeof NodeEnrollmentTokenSchema>;

export const NodeEnrollRequestSchema = Type.Object(
  {
    enrollmentToken: OpaqueToken('The one-time enrollment token.'),
    publicKey: X25519PublicKeyText('Node static public key, `x25519pub:<base64url>`.'),
    agentVersion: SoftwareVersion('Node agent version.'),
  },
  { additionalProperties: false, description: 'Node agent: enroll once with the one-time token.' },
);
export type NodeEnrollRequest = Static<typeof NodeEnrollRequestSchema>;

export const NodeEnrollResponseSchema = Type.Object(
  {
    nodeId: NodeId(),
    nodeCredential: OpaqueToken(
      'Long-lived secret authenticating the agent to the controller; the agent stores it with mode 0600.',
    ),
    signingKeys: Type.Array(SigningKeySchema, {
      maxItems: 64,
      description: 'Controller ticket-signing keys to cache.',
    }),
    protocolVersion: ProtocolVersionField(),
  },
  { description: 'Result of enrollment.' },
);
export type NodeEnrollResponse = Static<typeof NodeEnrollResponseSchema>;
