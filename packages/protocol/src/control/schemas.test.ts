import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import type { TSchema } from 'typebox';
import { describe, expect, it } from 'vitest';
import { formatPublicKey, generateEd25519KeyPair, generateX25519KeyPair } from '../keys.js';
import { TICKET_MAX_BYTES } from '../ticket/format.js';
import { signTicket } from '../ticket/ticket.js';
import * as control from './index.js';

const uuid = '3f2b8c1e-4b7e-4f0a-9b3a-1a2b3c4d5e6f';
const now = '2026-11-25T12:00:00.000Z';
const x25519 = formatPublicKey('x25519pub', generateX25519KeyPair().publicKey);
const ed25519 = formatPublicKey('ed25519pub', generateEd25519KeyPair().publicKey);
const endpoint = { host: '203.0.113.7', udpPort: 51820, tcpPort: 443 };
const signingKey = { keyId: 7, publicKey: ed25519, notBefore: now, notAfter: now };
const session = { ticketId: uuid, deviceId: uuid, userId: uuid, rxBytes: 10, txBytes: 20, connectedAt: now };

interface Case {
  schema: TSchema;
  valid: unknown[];
  invalid: unknown[];
  /** Request bodies, params and queries must reject unknown properties. */
  closed?: boolean;
}

const cases: Record<string, Case> = {
  ErrorBody: {
    schema: control.ErrorBodySchema,
    valid: [
      { statusCode: 400, code: control.ERROR_CODES.VALIDATION, error: 'Bad Request', message: 'body/email' },
      {
        statusCode: 500,
        code: 'CORRIDOR_ERR_INTERNAL',
        error: 'x',
        message: 'y',
        details: [{ path: '/a', message: 'b' }],
      },
    ],
    invalid: [
      { statusCode: 200, code: 'CORRIDOR_ERR_INTERNAL', error: 'x', message: 'y' },
      { statusCode: 400, code: 'ERR_VALIDATION', error: 'x', message: 'y' },
      { statusCode: 400, code: 'CORRIDOR_ERR_X', error: 'x' },
    ],
  },
  LoginRequest: {
    closed: true,
    schema: control.LoginRequestSchema,
    valid: [{ email: 'alice@example.com', password: 'hunter2' }],
    invalid: [
      { email: 'not-an-email', password: 'x' },
      { email: 'alice@example.com', password: '' },
      { email: 'alice@example.com', password: 'x'.repeat(1025) },
      { email: 'alice@example.com' },
    ],
  },
  TokenResponse: {
    schema: control.TokenResponseSchema,
    valid: [
      {
        accessToken: 'eyJhbGciOiJFZERTQSJ9.e30.sig',
        tokenType: 'Bearer',
        expiresIn: 900,
        refreshToken: 'A'.repeat(43),
        refreshExpiresIn: 2592000,
        user: { id: uuid, email: 'a@example.com', role: 'admin' },
      },
    ],
    invalid: [
      {
        accessToken: 'eyJhbGciOiJFZERTQSJ9.e30.sig',
        tokenType: 'Basic',
        expiresIn: 900,
        refreshToken: 'A'.repeat(43),
        refreshExpiresIn: 1,
        user: { id: uuid, email: 'a@example.com', role: 'user' },
      },
      {
        accessToken: 'eyJhbGciOiJFZERTQSJ9.e30.sig',
        tokenType: 'Bearer',
        expiresIn: 900,
        refreshToken: 'A'.repeat(43),
        refreshExpiresIn: 1,
        user: { id: uuid, email: 'a@example.com', role: 'root' },
      },
    ],
  },
  RefreshRequest: {
    closed: true,
    schema: control.RefreshRequestSchema,
    valid: [{ refreshToken: 'abcDEF0123456789_-xyz' }],
    invalid: [{ refreshToken: 'short' }, { refreshToken: 'has spaces in it, not base64url' }, {}],
  },
  LogoutRequest: {
    closed: true,
    schema: control.LogoutRequestSchema,
    valid: [{ refreshToken: 'abcDEF0123456789_-xyz' }],
    invalid: [{ refreshToken: 'x'.repeat(513) }],
  },
  DeviceRegisterRequest: {
    closed: true,
    schema: control.DeviceRegisterRequestSchema,
    valid: [{ name: 'laptop', publicKey: x25519 }],
    invalid: [
      { name: '', publicKey: x25519 },
      { name: 'x'.repeat(65), publicKey: x25519 },
      { name: 'bad\nname', publicKey: x25519 },
      { name: 'laptop', publicKey: ed25519.replace('ed25519pub', 'x25519pub').slice(0, -1) },
      { name: 'laptop', publicKey: `${x25519.slice(0, -1)}B` }, // non-canonical last char
      { name: 'laptop', publicKey: ed25519 },
    ],
  },
  DeviceRenameRequest: {
    closed: true,
    schema: control.DeviceRenameRequestSchema,
    valid: [{ name: 'phone ☎' }],
    invalid: [{ name: 42 }],
  },
  Device: {
    schema: control.DeviceSchema,
    valid: [
      { id: uuid, name: 'laptop', publicKey: x25519, createdAt: now, lastSeenAt: null },
      { id: uuid, name: 'laptop', publicKey: x25519, createdAt: now, lastSeenAt: now },
    ],
    invalid: [
      { id: 'nope', name: 'laptop', publicKey: x25519, createdAt: now, lastSeenAt: null },
      { id: uuid, name: 'laptop', publicKey: x25519, createdAt: 'yesterday', lastSeenAt: null },
      { id: uuid, name: 'laptop', publicKey: x25519, createdAt: now },
    ],
  },
  DeviceList: {
    schema: control.DeviceListSchema,
    valid: [
      { devices: [] },
      { devices: [{ id: uuid, name: 'a', publicKey: x25519, createdAt: now, lastSeenAt: null }] },
    ],
    invalid: [{ devices: [{}] }, {}],
  },
  NodeEndpoint: {
    closed: true,
    schema: control.NodeEndpointSchema,
    valid: [
      endpoint,
      { host: 'fra-1.vpn.example.com', udpPort: 1, tcpPort: 65535 },
      { host: '2001:db8::7', udpPort: 1, tcpPort: 2 },
    ],
    invalid: [
      { ...endpoint, udpPort: 0 },
      { ...endpoint, tcpPort: 65536 },
      { ...endpoint, host: 'bad host!' },
      { ...endpoint, host: '' },
    ],
  },
  NodeSummary: {
    schema: control.NodeSummarySchema,
    valid: [
      {
        id: 'fra-1',
        region: 'eu-central',
        country: 'DE',
        city: 'Frankfurt',
        endpoint,
        publicKey: x25519,
        online: true,
        load: 0.25,
        activeSessions: 3,
      },
      {
        id: 'fra-1',
        region: 'eu-central',
        country: 'DE',
        city: 'Frankfurt',
        endpoint,
        publicKey: null,
        online: false,
        load: 0,
        activeSessions: 0,
      },
    ],
    invalid: [
      {
        id: 'Fra-1',
        region: 'eu-central',
        country: 'DE',
        city: 'F',
        endpoint,
        publicKey: null,
        online: false,
        load: 0,
        activeSessions: 0,
      },
      {
        id: 'fra--1',
        region: 'eu-central',
        country: 'DE',
        city: 'F',
        endpoint,
        publicKey: null,
        online: false,
        load: 0,
        activeSessions: 0,
      },
      {
        id: 'fra-1',
        region: 'eu-central',
        country: 'de',
        city: 'F',
        endpoint,
        publicKey: null,
        online: false,
        load: 0,
        activeSessions: 0,
      },
      {
        id: 'fra-1',
        region: 'eu-central',
        country: 'DE',
        city: 'F',
        endpoint,
        publicKey: null,
        online: false,
        load: 1.5,
        activeSessions: 0,
      },
      {
        id: 'a'.repeat(33),
        region: 'eu',
        country: 'DE',
        city: 'F',
        endpoint,
        publicKey: null,
        online: false,
        load: 0,
        activeSessions: 0,
      },
    ],
  },
  NodeList: {
    schema: control.NodeListSchema,
    valid: [{ nodes: [] }],
    invalid: [{ nodes: 'none' }],
  },
  NodeListQuery: {
    closed: true,
    schema: control.NodeListQuerySchema,
    valid: [{}, { region: 'eu-central' }, { region: 'us', auto: 'true' }, { auto: 'false' }],
    invalid: [{ auto: 'yes' }, { region: 'EU' }],
  },
  NodeParams: {
    closed: true,
    schema: control.NodeParamsSchema,
    valid: [{ id: 'fra-1' }],
    invalid: [{ id: '-fra' }, { id: 'fra-' }, { id: '' }],
  },
  TicketRequest: {
    closed: true,
    schema: control.TicketRequestSchema,
    valid: [{ deviceId: uuid }],
    invalid: [{ deviceId: 'not-a-uuid' }, {}],
  },
  TicketResponse: {
    schema: control.TicketResponseSchema,
    valid: [
      {
        ticket: 'A'.repeat(250),
        ticketId: uuid,
        expiresAt: now,
        node: { id: 'fra-1', endpoint, publicKey: x25519 },
        protocolVersion: control.PROTOCOL_VERSION,
      },
    ],
    invalid: [
      {
        ticket: 'A'.repeat(Math.ceil((TICKET_MAX_BYTES * 4) / 3) + 1),
        ticketId: uuid,
        expiresAt: now,
        node: { id: 'fra-1', endpoint, publicKey: x25519 },
        protocolVersion: 1,
      },
      {
        ticket: 'A'.repeat(250),
        ticketId: uuid,
        expiresAt: now,
        node: { id: 'fra-1', endpoint, publicKey: null },
        protocolVersion: 1,
      },
      {
        ticket: 'A'.repeat(250),
        ticketId: uuid,
        expiresAt: now,
        node: { id: 'fra-1', endpoint, publicKey: x25519 },
        protocolVersion: 0,
      },
    ],
  },
  NodeCreateRequest: {
    closed: true,
    schema: control.NodeCreateRequestSchema,
    valid: [{ id: 'fra-1', region: 'eu-central', country: 'DE', city: 'Frankfurt', endpoint }],
    invalid: [
      { id: 'fra-1', region: 'eu-central', country: 'DEU', city: 'Frankfurt', endpoint },
      { id: 'fra-1' },
    ],
  },
  NodeEnrollmentToken: {
    schema: control.NodeEnrollmentTokenSchema,
    valid: [{ nodeId: 'fra-1', enrollmentToken: 'e'.repeat(43), expiresAt: now }],
    invalid: [{ nodeId: 'fra-1', enrollmentToken: 'e'.repeat(43), expiresAt: 'soon' }],
  },
  NodeEnrollRequest: {
    closed: true,
    schema: control.NodeEnrollRequestSchema,
    valid: [{ enrollmentToken: 'e'.repeat(43), publicKey: x25519, agentVersion: '0.1.0' }],
    invalid: [
      { enrollmentToken: 'e'.repeat(43), publicKey: x25519, agentVersion: '0.1.0 beta' },
      { enrollmentToken: 'e'.repeat(43), publicKey: 'x25519pub:', agentVersion: '0.1.0' },
    ],
  },
  NodeEnrollResponse: {
    schema: control.NodeEnrollResponseSchema,
    valid: [
      { nodeId: 'fra-1', nodeCredential: 'c'.repeat(43), signingKeys: [signingKey], protocolVersion: 1 },
    ],
    invalid: [
      {
        nodeId: 'fra-1',
        nodeCredential: 'c'.repeat(43),
        signingKeys: [{ ...signingKey, keyId: -1 }],
        protocolVersion: 1,
      },
    ],
  },
  SigningKey: {
    schema: control.SigningKeySchema,
    valid: [signingKey, { ...signingKey, keyId: 0xffffffff }],
    invalid: [
      { ...signingKey, keyId: 0x1_0000_0000 },
      { ...signingKey, keyId: 1.5 },
      { ...signingKey, publicKey: x25519 },
    ],
  },
  SigningKeyList: {
    schema: control.SigningKeyListSchema,
    valid: [{ version: 3, keys: [signingKey] }],
    invalid: [{ keys: [signingKey] }],
  },
  Heartbeat: {
    closed: true,
    schema: control.HeartbeatSchema,
    valid: [{ protocolVersion: 1, agentVersion: '0.1.0', load: 0.5, activeSessions: 1, sessions: [session] }],
    invalid: [
      {
        protocolVersion: 1,
        agentVersion: '0.1.0',
        load: 0.5,
        activeSessions: 1,
        sessions: [{ ...session, rxBytes: -1 }],
      },
      {
        protocolVersion: 1,
        agentVersion: '0.1.0',
        load: 0.5,
        activeSessions: 1,
        sessions: [{ ...session, extra: 1 }],
      },
      {
        protocolVersion: 1,
        agentVersion: '0.1.0',
        load: 0.5,
        activeSessions: 1,
        sessions: Array.from({ length: control.HEARTBEAT_MAX_SESSIONS + 1 }, () => session),
      },
    ],
  },
  HeartbeatResponse: {
    schema: control.HeartbeatResponseSchema,
    valid: [{ revocationsCursor: '42', signingKeysVersion: 3 }],
    invalid: [{ revocationsCursor: '', signingKeysVersion: 3 }],
  },
  RevocationListQuery: {
    closed: true,
    schema: control.RevocationListQuerySchema,
    valid: [{}, { since: '42' }],
    invalid: [{ since: 'x'.repeat(65) }],
  },
  RevocationList: {
    schema: control.RevocationListSchema,
    valid: [{ cursor: '43', reset: false, tickets: [uuid], devices: [], users: [] }],
    invalid: [
      { cursor: '43', reset: false, tickets: ['not-a-uuid'], devices: [], users: [] },
      { cursor: '43', tickets: [], devices: [], users: [] },
    ],
  },
};

describe('control schemas', () => {
  for (const [name, c] of Object.entries(cases)) {
    describe(name, () => {
      const compiled = Compile(c.schema);

      it('is a plain JSON schema with a description and no $id', () => {
        const json = JSON.parse(JSON.stringify(c.schema)) as Record<string, unknown>;
        expect(json.$id).toBeUndefined();
        expect(typeof json.description).toBe('string');
        expect(JSON.stringify(json)).not.toContain('~');
      });

      it.each(c.valid.map((v, i) => [i, v] as const))('accepts valid sample %i', (_i, sample) => {
        expect([...Value.Errors(c.schema, sample)]).toEqual([]);
        expect(compiled.Check(sample)).toBe(true);
      });

      it.each(c.invalid.map((v, i) => [i, v] as const))('rejects invalid sample %i', (_i, sample) => {
        expect(Value.Check(c.schema, sample)).toBe(false);
        expect(compiled.Check(sample)).toBe(false);
      });

      if (c.closed) {
        it('rejects unknown properties', () => {
          const sample = { ...(c.valid[0] as object), unexpected: 1 };
          expect(Value.Check(c.schema, sample)).toBe(false);
        });
      }
    });
  }

  it('exports both a schema and a type for every message name', () => {
    for (const name of Object.keys(cases)) {
      expect(control).toHaveProperty(`${name}Schema`);
    }
  });
});

describe('TicketResponse.ticket bounds', () => {
  it('fit the base64url text of the smallest and the largest real tickets', () => {
    const signer = generateEd25519KeyPair();
    for (const nodeId of ['a', 'n'.repeat(32)]) {
      const ticket = signTicket(
        {
          ticketId: uuid,
          userId: uuid,
          deviceId: uuid,
          nodeId,
          clientPublicKey: generateX25519KeyPair().publicKey,
          issuedAt: 1,
          expiresAt: 2,
          limits: { bandwidthBytesPerSec: 0, dataQuotaBytes: 0 },
        },
        { keyId: 1, privateKey: signer.privateKey },
      );
      const body = {
        ticket: ticket.toString('base64url'),
        ticketId: uuid,
        expiresAt: now,
        node: { id: nodeId, endpoint, publicKey: x25519 },
        protocolVersion: control.PROTOCOL_VERSION,
      };
      expect([...Value.Errors(control.TicketResponseSchema, body)]).toEqual([]);
    }
  });
});

describe('error codes', () => {
  it('are unique CORRIDOR_ERR_* strings, each with a 4xx/5xx status', () => {
    const codes = Object.values(control.ERROR_CODES);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) {
      expect(code).toMatch(/^CORRIDOR_ERR_[A-Z0-9_]+$/);
      expect(control.ERROR_HTTP_STATUS[code]).toBeGreaterThanOrEqual(400);
      expect(control.ERROR_HTTP_STATUS[code]).toBeLessThan(600);
      expect(control.isErrorCode(code)).toBe(true);
    }
    expect(control.isErrorCode('CORRIDOR_ERR_NOPE')).toBe(false);
    expect(control.isErrorCode(7)).toBe(false);
  });

  it('includes the codes clients rely on', () => {
    for (const name of [
      'VALIDATION',
      'UNAUTHORIZED',
      'FORBIDDEN',
      'NOT_FOUND',
      'CONFLICT',
      'RATE_LIMITED',
      'PAYLOAD_TOO_LARGE',
      'INVALID_CREDENTIALS',
      'ACCOUNT_DISABLED',
      'DEVICE_LIMIT',
      'NODE_OFFLINE',
      'TOKEN_REUSED',
      'INTERNAL',
    ]) {
      expect(control.ERROR_CODES).toHaveProperty(name, `CORRIDOR_ERR_${name}`);
    }
  });
});

describe('PROTOCOL_VERSION', () => {
  it('is re-exported as the integer 1', () => {
    expect(control.PROTOCOL_VERSION).toBe(1);
  });
});
