/** Ticket issuance: `POST /v1/nodes/:id/tickets`. */
import { Type, type Static } from 'typebox';
import { TICKET_MAX_TEXT_LENGTH, TICKET_MIN_BYTES } from '../ticket/format.js';
import { DateTime, NodeId, ProtocolVersionField, Uuid, X25519PublicKeyText } from './common.js';
import { NodeEndpointSchema } from './nodes.js';

export const TicketRequestSchema = Type.Object(
  { deviceId: Uuid('Registered device whose public key the ticket binds.') },
  { additionalProperties: false, description: 'Ask for a ticket for a node.' },
);
export type TicketRequest = Static<typeof TicketRequestSchema>;

export const TicketResponseSchema = Type.Object(
  {
    ticket: Type.String({
      pattern: '^[A-Za-z0-9_-]+$',
      minLength: Math.floor((TICKET_MIN_BYTES * 4) / 3),
      maxLength: TICKET_MAX_TEXT_LENGTH,
      description: 'Signed node ticket, unpadded base64url; carried inside handshake message 1.',
    }),
    ticketId: Uuid('Ticket id (also inside the ticket); used for revocation.'),
    expiresAt: DateTime('Ticket expiry (RFC 3339); re-ticket before it.'),
    node: Type.Object(
      {
        id: NodeId(),
        endpoint: NodeEndpointSchema,
        publicKey: X25519PublicKeyText('Node static public key for the Noise IK handshake.'),
      },
      { description: 'Node to dial.' },
    ),
    protocolVersion: ProtocolVersionField(),
  },
  { description: 'A ticket and what is needed to dial the node.' },
);
export type TicketResponse = Static<typeof TicketResponseSchema>;
