/** First admin: created from CORRIDOR_ADMIN_EMAIL/PASSWORD on first start, or by `corridor-controller create-admin`. */
import type { FastifyInstance } from 'fastify';

export async function createAdmin(
  app: FastifyInstance,
  email: string,
  password: string,
): Promise<'created' | 'exists'> {
  const user = await app.repos.users.create({
    email,
    passwordHash: await app.passwords.hash(password),
    role: 'admin',
    bandwidthBytesPerSec: 0,
    dataQuotaBytes: 0,
  });
  if (user === null) return 'exists';
  await app.repos.audit.record({
    actorType: 'system',
    action: 'user.create',
    targetType: 'user',
    targetId: user.id,
    details: { role: 'admin' },
  });
  return 'created';
}

/** Creates the env-configured admin when no admin exists yet. */
export async function ensureBootstrapAdmin(app: FastifyInstance): Promise<void> {
  const { adminEmail, adminPassword } = app.config;
  if (adminEmail === undefined || adminPassword === undefined) return;
  if ((await app.repos.users.countAdmins()) > 0) return;
  const res = await createAdmin(app, adminEmail, adminPassword);
  app.log.info({ email: adminEmail, result: res }, 'bootstrap admin');
}
