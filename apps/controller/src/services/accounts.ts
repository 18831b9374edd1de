/**
 * Account and device status changes that must be atomic: each is one transaction (flag, tokens,
 * revocation rows), announced to every replica only after it commits.
 *
 * Disabling a user: lock the user row (FOR UPDATE; refresh rotations read it FOR SHARE), set the
 * flag, revoke every refresh token, record the user revocation. Disabling a user who is already
 * disabled repairs what an earlier, interrupted version of this path may have left behind (a flag
 * without its revocation row, live refresh tokens) and announces again.
 */
import type { PrismaClient } from '../generated/prisma/client.js';
import type { DevicesRepository } from '../repositories/devices.js';
import type { RefreshTokensRepository } from '../repositories/refresh-tokens.js';
import type { RevocationRecord, RevocationsRepository } from '../repositories/revocations.js';
import type { UserRecord, UsersRepository } from '../repositories/users.js';
import type { DisabledUsers } from './disabled-users.js';
import type { RevocationService } from './revocations.js';

export interface StatusChange {
  user: UserRecord;
  /** False when the user already was in the requested state. */
  changed: boolean;
  /** Disable only: a missing revocation row was recorded for an already disabled user. */
  repaired: boolean;
}

export class AccountsService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly users: UsersRepository,
    private readonly devices: DevicesRepository,
    private readonly refreshTokens: RefreshTokensRepository,
    private readonly revocationRows: RevocationsRepository,
    private readonly revocations: RevocationService,
    private readonly disabledUsers: DisabledUsers,
  ) {}

  /** Null when the user does not exist. */
  async disableUser(userId: string, reason: string | null, actorId: string): Promise<StatusChange | null> {
    const res = await this.prisma.$transaction(async (tx) => {
      const locked = await this.users.lockIn(tx, userId);
      if (locked === null) return null;
      const changed = locked.disabledAt === null;
      if (changed) await this.users.setDisabledIn(tx, userId, true);
      await this.refreshTokens.revokeAllForUser(userId, tx);
      const existing = await this.revocationRows.findActive(tx, 'user', userId);
      const rec = existing ?? (await this.revocationRows.insertIn(tx, 'user', userId, reason, actorId));
      return { changed, repaired: !changed && existing === null, rec };
    });
    if (res === null) return null;
    this.disabledUsers.add(userId);
    await this.revocations.announce({ id: res.rec.id, kind: 'user', subjectId: userId });
    return { user: (await this.users.findById(userId))!, changed: res.changed, repaired: res.repaired };
  }

  /**
   * Re-enables a user: tickets issued before stay revoked one by one, then the user-wide revocation
   * is lifted (nodes get a fresh snapshot because the feed generation changes). Null when the user
   * does not exist.
   */
  async enableUser(userId: string, actorId: string): Promise<StatusChange | null> {
    const res = await this.prisma.$transaction(async (tx) => {
      const locked = await this.users.lockIn(tx, userId);
      if (locked === null) return null;
      if (locked.disabledAt === null) return { changed: false };
      await this.revocationRows.revokeUnexpiredTicketsOfUser(
        tx,
        userId,
        'issued before the user was disabled',
        actorId,
      );
      await this.revocationRows.liftIn(tx, 'user', userId);
      await this.users.setDisabledIn(tx, userId, false);
      return { changed: true };
    });
    if (res === null) return null;
    if (res.changed) {
      this.disabledUsers.remove(userId);
      await this.revocations.announce({ id: '', kind: 'user', subjectId: userId, lifted: true });
    }
    return { user: (await this.users.findById(userId))!, changed: res.changed, repaired: false };
  }

  /**
   * Admin revocation of a device: flag, tombstone of its key (so deleting the device and registering
   * the key again cannot undo it) and revocation row in one transaction. Null when no such device.
   */
  async revokeDevice(
    deviceId: string,
    reason: string | null,
    actorId: string,
  ): Promise<RevocationRecord | null> {
    const rec = await this.prisma.$transaction(async (tx) => {
      if (!(await this.devices.revokeIn(tx, deviceId))) return null;
      return (
        (await this.revocationRows.findActive(tx, 'device', deviceId)) ??
        (await this.revocationRows.insertIn(tx, 'device', deviceId, reason, actorId))
      );
    });
    if (rec !== null) await this.revocations.announce({ id: rec.id, kind: 'device', subjectId: deviceId });
    return rec;
  }
}
