/** Repositories and domain services, built once per app instance and decorated onto it. */
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { readOrCreateSecretFile, randomSecret } from '../../lib/data-dir.js';
import { PasswordHasher } from '../../lib/passwords.js';
import { normalizeClientIp } from '../../lib/client-ip.js';
import { AuditRepository, type AuditInput } from '../../repositories/audit.js';
import { DevicesRepository } from '../../repositories/devices.js';
import { NodesRepository } from '../../repositories/nodes.js';
import { RefreshTokensRepository } from '../../repositories/refresh-tokens.js';
import { RevocationsRepository } from '../../repositories/revocations.js';
import { SessionsRepository } from '../../repositories/sessions.js';
import { SigningKeysRepository } from '../../repositories/signing-keys.js';
import { TicketsRepository } from '../../repositories/tickets.js';
import { UsersRepository } from '../../repositories/users.js';
import { AccountsService } from '../../services/accounts.js';
import { AuthService } from '../../services/auth.js';
import { DisabledUsers } from '../../services/disabled-users.js';
import { Retention } from '../../services/retention.js';
import { RevocationPoll } from '../../services/revocation-poll.js';
import { NodeDirectory } from '../../services/node-directory.js';
import { RevocationService } from '../../services/revocations.js';
import { SigningKeyService } from '../../services/signing-keys.js';
import { TicketIssuer } from '../../services/ticket-issuer.js';

export interface Repositories {
  users: UsersRepository;
  devices: DevicesRepository;
  refreshTokens: RefreshTokensRepository;
  nodes: NodesRepository;
  tickets: TicketsRepository;
  sessions: SessionsRepository;
  revocations: RevocationsRepository;
  signingKeys: SigningKeysRepository;
  audit: AuditRepository;
}

declare module 'fastify' {
  interface FastifyInstance {
    repos: Repositories;
    passwords: PasswordHasher;
    auth: AuthService;
    signingKeys: SigningKeyService;
    revocations: RevocationService;
    nodeDirectory: NodeDirectory;
    ticketIssuer: TicketIssuer;
    accounts: AccountsService;
    disabledUsers: DisabledUsers;
    retention: Retention;
    revocationPoll: RevocationPoll;
    /** Appends an audit event with the request's actor and client IP. */
    audit(
      request: FastifyRequest,
      event: Omit<AuditInput, 'ip' | 'actorType' | 'actorId'> &
        Partial<Pick<AuditInput, 'actorType' | 'actorId'>>,
    ): Promise<void>;
  }
}

export default fp(
  async (app) => {
    const { prisma, pool } = app.db;
    const repos: Repositories = {
      users: new UsersRepository(prisma),
      devices: new DevicesRepository(prisma),
      refreshTokens: new RefreshTokensRepository(prisma),
      nodes: new NodesRepository(prisma),
      tickets: new TicketsRepository(
        pool,
        (err, size) =>
          app.log.error({ err, size }, 'ticket group insert failed; retrying its tickets one by one'),
        app.db.namedStatements,
      ),
      sessions: new SessionsRepository(pool, prisma),
      revocations: new RevocationsRepository(prisma),
      signingKeys: new SigningKeysRepository(prisma),
      audit: new AuditRepository(prisma),
    };
    app.decorate('repos', repos);

    const passwords = new PasswordHasher(app.config.argon2);
    app.decorate('passwords', passwords);
    app.decorate('auth', new AuthService(app.config, app.store, repos.users, repos.refreshTokens, passwords));

    const encKey =
      app.config.signingKeyEncryptionKey ??
      Buffer.from(
        (
          await readOrCreateSecretFile(app.config.dataDir, 'signing-key-encryption-key', () =>
            randomSecret(32, 'hex'),
          )
        ).value,
        'hex',
      );
    const signingKeys = new SigningKeyService(
      repos.signingKeys,
      app.store,
      encKey,
      app.config.signingKeyRotationS * 1000,
      app.config.ticketTtlS * 1000,
    );
    app.decorate('signingKeys', signingKeys);

    const nodeDirectory = new NodeDirectory(repos.nodes, app.store, app.config.nodeLivenessTtlS * 1000);
    app.decorate('nodeDirectory', nodeDirectory);

    const revocations = new RevocationService(repos.revocations, app.store, (n) =>
      app.metrics.revocationsReceived.inc({ kind: n.kind }),
    );
    app.decorate('revocations', revocations);
    const disabledUsers = new DisabledUsers(repos.users, revocations);
    app.decorate('disabledUsers', disabledUsers);
    app.decorate(
      'accounts',
      new AccountsService(
        prisma,
        repos.users,
        repos.devices,
        repos.refreshTokens,
        repos.revocations,
        revocations,
        disabledUsers,
      ),
    );

    app.decorate(
      'ticketIssuer',
      new TicketIssuer(repos.tickets, nodeDirectory, signingKeys, app.config.ticketTtlS, app.store, {
        max: app.config.ticketLimitPerUser,
        windowS: app.config.ticketLimitWindowS,
      }),
    );

    app.decorate('audit', async (request: FastifyRequest, event: Parameters<typeof app.audit>[1]) => {
      const principal = request.principal;
      await repos.audit.record({
        actorType: event.actorType ?? principal?.kind ?? 'anonymous',
        actorId: event.actorId ?? principal?.id ?? null,
        ip: normalizeClientIp(request.ip),
        ...event,
      });
    });

    await Promise.all([signingKeys.start(), nodeDirectory.start(), revocations.start(), passwords.warmUp()]);
    await disabledUsers.start();
    const retention = new Retention(
      pool,
      repos.revocations,
      app.config.retention,
      (counts) => {
        if (Object.values(counts).some((n) => n > 0)) app.log.info({ deleted: counts }, 'retention: pruned');
      },
      (err) => app.log.error({ err }, 'retention: pruning failed; retrying next round'),
    );
    app.decorate('retention', retention);
    retention.start();
    const revocationPoll = new RevocationPoll(
      repos.revocations,
      revocations,
      app.config.revocationWaitersMax,
      (n) => app.metrics.revocationWaiters.set(n),
    );
    revocationPoll.start();
    app.decorate('revocationPoll', revocationPoll);
    // Before the server stops accepting and waits for in-flight requests: long polls answer now
    // instead of holding the shutdown for up to a minute.
    app.addHook('preClose', async () => revocationPoll.close());
    app.addHook('onClose', async () => {
      await retention.stop();
      disabledUsers.stop();
      await Promise.all([signingKeys.stop(), nodeDirectory.stop(), revocations.stop()]);
    });
  },
  { name: 'services', dependencies: ['config', 'database', 'store', 'metrics'] },
);
