/**
 * The classes of hostile input that once reached PostgreSQL or Prisma and came back as 500s: each
 * must be a 400 CORRIDOR_ERR_VALIDATION naming the field, on every route that takes it, and the
 * controller must keep serving afterwards. Unit tests of the shared layer itself are below.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findUnsafeValue,
  isStorableDay,
  MAX_INSTANT_MS,
  MIN_INSTANT_MS,
  parseInstant,
} from '../../src/lib/validation.js';
import { decodeCursor, CURSOR_ID, takeFor } from '../../src/lib/pagination.js';
import {
  adminToken,
  bearer,
  createUser,
  hasServices,
  issueTicket,
  onlineNode,
  registerDevice,
  startHarness,
  warnSkip,
  type Harness,
} from '../helpers.js';

warnSkip();

const cursor = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const someUuid = '3f2b8c1e-4b7e-4f0a-9b3a-1a2b3c4d5e6f';

describe('shared validation layer (unit)', () => {
  it('accepts only instants PostgreSQL and Date both hold', () => {
    expect(parseInstant('0001-01-01T00:00:00Z')).toBe(MIN_INSTANT_MS);
    expect(parseInstant('9999-12-31T23:59:59.999Z')).toBe(MAX_INSTANT_MS);
    expect(parseInstant('2024-02-29T12:00:00.123456+02:00')).toBe(Date.parse('2024-02-29T10:00:00.123Z'));
    for (const bad of [
      '0000-01-01T00:00:00Z',
      '0001-01-01T00:00:00+00:01', // year 0 once the offset is applied
      '9999-12-31T23:59:59-05:00', // year 10000 once the offset is applied
      '2023-02-29T00:00:00Z',
      '2024-01-01T23:59:60Z', // leap second: Date cannot hold it
      '2024-01-01T24:00:00Z',
      '2024-01-01t00:00:00z',
      '2024-01-01T00:00:00+24:00',
      '+010000-01-01T00:00:00Z',
      '2024-01-01',
    ]) {
      expect(parseInstant(bad), bad).toBeUndefined();
    }
    expect(isStorableDay('0001-01-01')).toBe(true);
    expect(isStorableDay('0000-01-01')).toBe(false);
    expect(isStorableDay('2023-02-29')).toBe(false);
  });

  it('finds NUL, unpaired surrogates (values and keys) and non-finite numbers', () => {
    expect(findUnsafeValue({ a: ['ok', 'fine 😀', 1.5] })).toBeUndefined();
    expect(findUnsafeValue({ a: 'x\u0000' })?.path).toBe('/a');
    expect(findUnsafeValue({ a: ['\ud800x'] })?.path).toBe('/a/0');
    expect(findUnsafeValue({ a: 'x\udc00' })?.path).toBe('/a');
    expect(findUnsafeValue({ 'k\ud800': 1 })?.path).toBe('/k\ud800');
    expect(findUnsafeValue({ n: Infinity })?.message).toMatch(/finite/);
    expect(findUnsafeValue({ n: NaN })?.message).toMatch(/finite/);
  });

  it('checks cursors with the same instant range and never leaves `take` undefined', () => {
    const at = (t: string) => cursor({ t, id: someUuid });
    expect(decodeCursor(at('0001-01-01T00:00:00.000Z'), CURSOR_ID.uuid)).toBeDefined();
    expect(() => decodeCursor(at('0000-01-01T00:00:00.000Z'), CURSOR_ID.uuid)).toThrow(/cursor/);
    expect(() => decodeCursor(at('+010000-01-01T00:00:00.000Z'), CURSOR_ID.uuid)).toThrow(/cursor/);
    expect(takeFor(50)).toBe(51);
    for (const bad of [NaN, Infinity, 0, 201, 1.5, undefined as unknown as number]) {
      expect(() => takeFor(bad), String(bad)).toThrow(/limit/);
    }
  });
});

describe.skipIf(!hasServices)('hostile input classes become 400s (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  let user: Awaited<ReturnType<typeof createUser>>;
  let node: Awaited<ReturnType<typeof onlineNode>>;
  let device: { id: string; publicKey: string };
  let ticketId: string;
  beforeAll(async () => {
    h = await startHarness();
    admin = await adminToken(h.app);
    user = await createUser(h.app, admin);
    device = await registerDevice(h.app, user.accessToken);
    node = await onlineNode(h.app, admin);
    ticketId = (await issueTicket(h.app, user.accessToken, node.id, device.id)).ticketId;
  });
  afterAll(async () => h?.close());

  const session = (over: Record<string, unknown>) => ({
    ticketId,
    deviceId: device.id,
    userId: user.userId,
    rxBytes: 1,
    txBytes: 1,
    connectedAt: new Date().toISOString(),
    ...over,
  });
  const hb = (over: Record<string, unknown>) => ({
    protocolVersion: 1,
    agentVersion: '1.0.0',
    load: 0,
    activeSessions: 0,
    sessions: [],
    ...over,
  });

  type Case = { method: 'GET' | 'POST'; url: string; payload?: unknown; as?: 'admin' | 'user' | 'node' };
  const classes: Record<string, () => Case[]> = {
    'NUL in strings': () => [
      { method: 'GET', url: '/v1/admin/users?q=%00' },
      { method: 'GET', url: '/v1/admin/users?q=a%00b' },
      { method: 'GET', url: '/v1/admin/audit?actorId=%00' },
      { method: 'GET', url: '/v1/admin/audit?targetId=x%00' },
      { method: 'POST', url: `/v1/admin/tickets/${ticketId}/revoke?reason=a%00` },
      { method: 'POST', url: `/v1/admin/users/${someUuid}/disable?reason=%00` },
      {
        method: 'POST',
        url: '/v1/devices',
        payload: { name: 'a\u0000', publicKey: device.publicKey },
        as: 'user',
      },
    ],
    'lone surrogates in JSON strings': () => [
      {
        method: 'POST',
        url: '/v1/devices',
        payload: { name: '\ud800x', publicKey: device.publicKey },
        as: 'user',
      },
      {
        method: 'POST',
        url: '/v1/admin/nodes',
        payload: {
          id: 'zz-1',
          region: 'r',
          country: 'DE',
          city: '\udc00',
          endpoint: { host: 'a.example', udpPort: 1, tcpPort: 2 },
        },
      },
      { method: 'POST', url: '/v1/admin/users', payload: { email: 'a@b.cd', password: 'x\ud800xxxxxxxxxx' } },
    ],
    'numbers that become Infinity': () => [
      { method: 'GET', url: '/v1/admin/users?limit=1e309' },
      { method: 'GET', url: `/v1/admin/sessions?limit=${'9'.repeat(400)}` },
      { method: 'GET', url: '/v1/admin/usage?page=1e309' },
      {
        method: 'POST',
        url: '/v1/admin/nodes',
        payload: {
          id: 'zz-2',
          region: 'r',
          country: 'DE',
          city: 'x',
          endpoint: { host: 'a.example', udpPort: '1e309', tcpPort: 2 },
        },
      },
      {
        method: 'POST',
        url: '/v1/admin/users',
        payload: { email: 'b@b.cd', password: 'xxxxxxxxxxxx', dataQuotaBytes: '1e309' },
      },
      { method: 'POST', url: '/v1/agent/heartbeat', payload: hb({ activeSessions: '1e309' }), as: 'node' },
      {
        method: 'POST',
        url: '/v1/agent/heartbeat',
        payload: hb({ sessions: [session({ rxBytes: '1e309' })] }),
        as: 'node',
      },
    ],
    'numbers in JSON bodies are not coerced': () => [
      { method: 'POST', url: '/v1/agent/heartbeat', payload: hb({ load: '0.5' }), as: 'node' },
      {
        method: 'POST',
        url: '/v1/agent/heartbeat',
        payload: hb({ sessions: [session({ txBytes: '12' })] }),
        as: 'node',
      },
    ],
    'dates PostgreSQL cannot store': () => [
      { method: 'GET', url: '/v1/admin/sessions?from=0000-01-01T00:00:00Z' },
      { method: 'GET', url: '/v1/admin/sessions?to=9999-12-31T23:59:59-05:00' },
      { method: 'GET', url: '/v1/admin/audit?from=0001-01-01T00:00:00%2B01:00' },
      { method: 'GET', url: '/v1/admin/usage?from=0000-01-01' },
      { method: 'GET', url: `/v1/admin/users/${someUuid}/usage?to=0000-12-31` },
      {
        method: 'GET',
        url: `/v1/admin/sessions?cursor=${cursor({ t: '0000-01-01T00:00:00.000Z', id: someUuid })}`,
      },
      {
        method: 'GET',
        url: `/v1/admin/audit?cursor=${cursor({ t: '+010000-01-01T00:00:00.000Z', id: '5' })}`,
      },
      {
        method: 'POST',
        url: '/v1/agent/heartbeat',
        payload: hb({ sessions: [session({ connectedAt: '0000-01-01T00:00:00Z' })] }),
        as: 'node',
      },
      {
        method: 'POST',
        url: '/v1/agent/heartbeat',
        payload: hb({ sessions: [session({ connectedAt: '9999-12-31T23:59:59-01:00' })] }),
        as: 'node',
      },
    ],
    'limits that would leave `take` undefined': () => [
      { method: 'GET', url: '/v1/admin/users?limit=NaN' },
      { method: 'GET', url: '/v1/admin/nodes?limit=Infinity' },
      { method: 'GET', url: '/v1/admin/audit?limit=' },
      { method: 'GET', url: '/v1/admin/sessions?limit=1&limit=2' },
    ],
  };

  for (const [name, cases] of Object.entries(classes)) {
    it(`answers ${name} with 400 CORRIDOR_ERR_VALIDATION`, async () => {
      const headers = { admin: bearer(admin), user: bearer(user.accessToken), node: node.auth };
      for (const c of cases()) {
        const res = await h.app.inject({
          method: c.method,
          url: c.url,
          headers: headers[c.as ?? 'admin'],
          ...(c.payload === undefined ? {} : { payload: c.payload as object }),
        });
        const label = `${c.method} ${c.url} ${JSON.stringify(c.payload ?? '')}`;
        expect(res.statusCode, `${label} -> ${res.body}`).toBe(400);
        expect(res.json().code, label).toBe('CORRIDOR_ERR_VALIDATION');
      }
      // Still serving: the hot path works after the hostile requests.
      await issueTicket(h.app, user.accessToken, node.id, device.id);
    });
  }
});
