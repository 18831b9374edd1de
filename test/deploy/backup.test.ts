/**
 * docs/deploy.md "Back up and restore", done for real: a production controller on PostgreSQL and
 * Redis gets an admin, a node and a rotated signing key; `pg_dump --format=custom` of its database
 * is restored with `pg_restore --no-owner` into an empty database; a controller with the same
 * secrets serves the restored state (same admin, node, signing keys), and one given another
 * SIGNING_KEY_ENCRYPTION_KEY refuses to start instead of running without signing keys.
 * Needs pg_dump/pg_restore and openssl (Debian: postgresql-client, openssl) and DATABASE_URL_TEST /
 * REDIS_URL_TEST; otherwise skipped with the reason printed.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDatabase,
  makeSecrets,
  servicesSkipReason,
  startController,
  toolSkipReason,
  waitReady,
  type TestDatabase,
} from './lib/controller-fixture.js';
import { freePort, makeCertificate, request, type Proc, type TlsPair } from './lib/processes.js';

const HOST = 'vpn.example.test';
const skip =
  servicesSkipReason() ??
  toolSkipReason('pg_dump', ['--version'], 'Debian package postgresql-client') ??
  toolSkipReason('pg_restore', ['--version'], 'Debian package postgresql-client') ??
  toolSkipReason('openssl', ['version'], 'Debian package openssl');
if (skip) console.warn(`[deploy/backup] skipping: ${skip}`);

interface SigningKeys {
  version: number;
  keys: { keyId: number; publicKey: string; notBefore: string; notAfter: string }[];
}

describe.skipIf(skip !== undefined)(
  'back up and restore with pg_dump / pg_restore',
  { timeout: 120_000 },
  () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'corridor-backup-'));
    const dump = path.join(dir, 'corridor.dump');
    const adminPassword = randomBytes(12).toString('base64url');
    const secrets = makeSecrets();
    const procs: Proc[] = [];
    const databases: TestDatabase[] = [];
    let tls: TlsPair;
    let keysBefore: SigningKeys;

    const run = (o: { name: string; port: number; databaseUrl: string; secrets?: typeof secrets }) => {
      const p = startController({
        ...o,
        dir,
        tls,
        secrets: o.secrets ?? secrets,
        adminPassword,
        redisKeyPrefix: `corridor-backup-${randomBytes(4).toString('hex')}:`,
      });
      procs.push(p);
      return p;
    };

    async function adminToken(port: number): Promise<string> {
      const res = await request(port, HOST, tls.certFile, 'POST', '/v1/auth/login', {
        body: { email: 'admin@example.com', password: adminPassword },
      });
      expect(res.status, res.body).toBe(200);
      return (res.json() as { accessToken: string }).accessToken;
    }

    beforeAll(async () => {
      tls = makeCertificate(dir, 'controller', HOST);
      const source = await createDatabase();
      databases.push(source);
      const port = await freePort();
      const original = run({ name: 'original', port, databaseUrl: source.url });
      await waitReady(port, original, tls.certFile);
      const token = await adminToken(port);
      const auth = { authorization: `Bearer ${token}` };
      const node = await request(port, HOST, tls.certFile, 'POST', '/v1/admin/nodes', {
        headers: auth,
        body: {
          id: 'sgp-1',
          region: 'ap-southeast',
          country: 'SG',
          city: 'Singapore',
          endpoint: { host: 'sgp-1.vpn.example.test', udpPort: 51820, tcpPort: 443 },
        },
      });
      expect(node.status, node.body).toBe(201);
      const rotated = await request(port, HOST, tls.certFile, 'POST', '/v1/admin/signing-keys/rotate', {
        headers: auth,
      });
      expect(rotated.status, rotated.body).toBe(200);
      const keys = await request(port, HOST, tls.certFile, 'GET', '/v1/admin/signing-keys', {
        headers: auth,
      });
      keysBefore = keys.json() as SigningKeys;
      // The rotated-out key stays published beside the new one (its tickets keep verifying).
      expect(keysBefore.keys.length).toBeGreaterThanOrEqual(2);
      await original.stop();
      // docs/deploy.md: pg_dump --format=custom.
      const r = spawnSync('pg_dump', ['--format=custom', `--file=${dump}`, `--dbname=${source.url}`], {
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      expect(statSync(dump).size).toBeGreaterThan(1000);
    }, 150_000);

    afterAll(async () => {
      await Promise.all(procs.map((p) => p.stop('SIGTERM', 5_000)));
      for (const db of databases) await db.drop();
      rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    async function restored(): Promise<TestDatabase> {
      const target = await createDatabase();
      databases.push(target);
      const r = spawnSync('pg_restore', ['--no-owner', `--dbname=${target.url}`, dump], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return target;
    }

    it('a controller with the same secrets serves the restored admin, node and signing keys', async () => {
      const target = await restored();
      const port = await freePort();
      const proc = run({ name: 'restored', port, databaseUrl: target.url });
      await waitReady(port, proc, tls.certFile);
      const auth = { authorization: `Bearer ${await adminToken(port)}` };
      const node = await request(port, HOST, tls.certFile, 'GET', '/v1/admin/nodes/sgp-1', { headers: auth });
      expect(node.status, node.body).toBe(200);
      expect(node.json()).toMatchObject({ id: 'sgp-1', region: 'ap-southeast' });
      const keys = await request(port, HOST, tls.certFile, 'GET', '/v1/admin/signing-keys', {
        headers: auth,
      });
      expect(keys.json()).toEqual(keysBefore);
      await proc.stop();
    });

    it('a controller with another SIGNING_KEY_ENCRYPTION_KEY refuses to start on the restored database', async () => {
      const target = await restored();
      const port = await freePort();
      const proc = run({
        name: 'wrong-key',
        port,
        databaseUrl: target.url,
        secrets: { ...secrets, signingKeyEncryptionKey: randomBytes(32).toString('hex') },
      });
      const code = await Promise.race([
        proc.exited,
        new Promise((r) => setTimeout(() => r('running'), 90_000)),
      ]);
      expect(code, proc.output.slice(-2000)).not.toBe('running');
      expect(code).not.toBe(0);
    });
  },
);
