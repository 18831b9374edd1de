import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTicketSigningKeys, parseX25519PublicKey, verifyTicket } from '@corridor/protocol';
import {
  adminToken,
  bearer,
  createUser,
  hasServices,
  onlineNode,
  registerDevice,
  startHarness,
  warnSkip,
  type Harness,
} from '../helpers.js';

warnSkip();

describe.skipIf(!hasServices)('signing key rotation with overlap (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness({ TICKET_TTL_S: '600', SIGNING_KEY_ROTATION_S: '86400' });
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  it('keeps the previous key published until its tickets expire and signs new tickets with the new key', async () => {
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const node = await onlineNode(h.app, admin);
    const issue = async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: `/v1/nodes/${node.id}/tickets`,
        headers: bearer(u.accessToken),
        payload: { deviceId: dev.id },
      });
      expect(res.statusCode).toBe(200);
      return Buffer.from(res.json().ticket as string, 'base64url');
    };
    const keysNow = async () => {
      const res = await h.app.inject({ method: 'GET', url: '/v1/agent/signing-keys', headers: node.auth });
      return res.json() as {
        version: number;
        keys: { keyId: number; publicKey: string; notBefore: string; notAfter: string }[];
      };
    };
    const asMap = (keys: { keyId: number; publicKey: string; notBefore: string; notAfter: string }[]) => {
      const m = parseTicketSigningKeys(keys);
      if (!m.ok) throw new Error(m.error);
      return m.value;
    };
    const clientKey = parseX25519PublicKey(dev.publicKey);
    if (!clientKey.ok) throw new Error('bad key');

    const before = await keysNow();
    const oldTicket = await issue();
    const oldKeyId = oldTicket.readUInt32BE(1);

    const rot = await h.app.inject({
      method: 'POST',
      url: '/v1/admin/signing-keys/rotate',
      headers: bearer(admin),
    });
    expect(rot.statusCode).toBe(200);
    const newKeyId = rot.json().keyId as number;
    expect(newKeyId).toBeGreaterThan(oldKeyId);

    const after = await keysNow();
    expect(after.version).toBeGreaterThan(before.version);
    const ids = after.keys.map((k) => k.keyId);
    expect(ids).toContain(oldKeyId);
    expect(ids).toContain(newKeyId);
    const old = after.keys.find((k) => k.keyId === oldKeyId)!;
    // Overlap: the old key stays valid for a ticket lifetime after it stopped signing.
    expect(new Date(old.notAfter).getTime()).toBeGreaterThan(Date.now() + 590_000);

    const newTicket = await issue();
    expect(newTicket.readUInt32BE(1)).toBe(newKeyId);
    const keys = asMap(after.keys);
    for (const t of [oldTicket, newTicket]) {
      expect(
        verifyTicket(t, { keys, nodeId: node.id, clientPublicKey: clientKey.value, nowMs: Date.now() }).ok,
      ).toBe(true);
    }
    // Once the overlap is over, the old key is no longer needed (and tickets signed by it have expired).
    const later = Date.now() + 601_000 + 60_000;
    expect(
      verifyTicket(oldTicket, { keys, nodeId: node.id, clientPublicKey: clientKey.value, nowMs: later }).ok,
    ).toBe(false);

    // Private keys are stored sealed, never in clear.
    const rows = await h.app.db.pool.query<{ key_id: number; private_key_enc: Buffer }>(
      'SELECT key_id, private_key_enc FROM signing_keys',
    );
    for (const r of rows.rows) expect(r.private_key_enc.length).toBe(12 + 16 + 64);
  });

  it('creates the next key ahead of the current key’s retirement', async () => {
    const svc = h.app.signingKeys;
    const current = await svc.current();
    // Pretend the current key retires in a minute: ensureKeys must pre-publish a successor.
    await h.app.db.pool.query(
      "UPDATE signing_keys SET retires_at = now() + interval '60 seconds' WHERE key_id = $1",
      [current.keyId],
    );
    await svc.ensureKeys();
    await svc.refresh();
    const pub = svc.published();
    const next = pub.keys.find((k) => k.keyId > current.keyId)!;
    expect(next).toBeDefined();
    expect(new Date(next.notBefore).getTime()).toBeGreaterThan(Date.now() + 30_000);
    expect((await svc.current()).keyId).toBe(current.keyId);
  });
});
