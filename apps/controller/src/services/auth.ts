/**
 * Password login with brute-force protection, and refresh-token rotation.
 *
 * Limits (shared store, so they hold across replicas): every attempt counts against the client IP
 * (fixed window; IPv6 clients by /64) and, before the password is checked, against the account
 * e-mail (failures plus attempts in flight; a success or a refused attempt gives its count back).
 * A failure that reaches the limit locks the e-mail for `loginLockoutS`; attempts beyond the limit
 * while others are in flight are refused without being tried. Locked/limited attempts get 429 with Retry-After
 * before any password work. Unknown e-mail, wrong password and a disabled account are
 * indistinguishable: same code, same message, and the same argon2 cost (verification against a
 * dummy hash for unknown e-mails).
 */
import type { Config } from '../config.js';
import { AppError, ERROR_CODES } from '../errors.js';
import type { PasswordHasher } from '../lib/passwords.js';
import type { RefreshTokensRepository } from '../repositories/refresh-tokens.js';
import type { Role, UsersRepository } from '../repositories/users.js';
import type { Store } from '../store/store.js';
import { hashToken } from '../lib/crypto.js';
import { rateLimitKey } from '../lib/client-ip.js';

export interface LoginOk {
  user: { id: string; email: string; role: Role };
  refreshToken: string;
}

export type LoginOutcome = 'success' | 'invalid' | 'disabled' | 'limited';

export class AuthService {
  constructor(
    private readonly config: Config,
    private readonly store: Store,
    private readonly users: UsersRepository,
    private readonly refreshTokens: RefreshTokensRepository,
    private readonly passwords: PasswordHasher,
  ) {}

  private retryAfter(ms: number): Record<string, string> {
    return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))) };
  }

  /** Throws AppError (401 invalid or disabled, 429 limited); `onOutcome` sees every result. */
  async login(
    email: string,
    password: string,
    ip: string,
    onOutcome: (o: LoginOutcome, userId?: string) => void,
  ): Promise<LoginOk> {
    const account = hashToken(email.toLowerCase()).slice(0, 32);
    const lockKey = `login:lock:${account}`;
    const lockTtl = await this.store.pttl(lockKey);
    if (lockTtl !== -2) {
      onOutcome('limited');
      throw new AppError(
        ERROR_CODES.RATE_LIMITED,
        'too many failed attempts; try again later',
        this.retryAfter(lockTtl < 0 ? this.config.loginLockoutS * 1000 : lockTtl),
      );
    }
    const ipKey = `login:ip:${rateLimitKey(ip)}`;
    const ipCount = await this.store.incr(ipKey, this.config.loginWindowS * 1000);
    if (ipCount > this.config.loginMaxAttemptsPerIp) {
      onOutcome('limited');
      throw new AppError(
        ERROR_CODES.RATE_LIMITED,
        'too many login attempts; try again later',
        this.retryAfter(await this.store.pttl(ipKey)),
      );
    }

    // The attempt is counted before any password work, atomically (INCR), so parallel attempts
    // cannot all pass a check made before the others were counted: the counter holds this window's
    // failures plus the attempts in flight, and at most `loginMaxAttemptsPerAccount` of them ever
    // reach argon2. An attempt refused here was not tried (its count is given back); a success gives
    // its count back too, so a user's own logins never lock the account.
    const attemptsKey = `login:attempts:${account}`;
    const attempts = await this.store.incr(attemptsKey, this.config.loginWindowS * 1000);
    if (attempts > this.config.loginMaxAttemptsPerAccount) {
      await this.store.decr(attemptsKey);
      onOutcome('limited');
      throw new AppError(
        ERROR_CODES.RATE_LIMITED,
        'too many login attempts for this account; try again later',
        this.retryAfter(1000),
      );
    }

    const creds = await this.users.findCredentials(email);
    const ok = await this.passwords.verify(creds?.passwordHash ?? null, password);
    // A disabled account answers exactly like a wrong password, whether or not the password was
    // right: a distinct answer would confirm the password to whoever tries it.
    if (!ok || creds === null || creds.disabledAt !== null) {
      if (attempts >= this.config.loginMaxAttemptsPerAccount) {
        await this.store.set(lockKey, '1', this.config.loginLockoutS * 1000);
        await this.store.del(attemptsKey);
      }
      onOutcome(ok && creds?.disabledAt ? 'disabled' : 'invalid', creds?.id);
      throw new AppError(ERROR_CODES.INVALID_CREDENTIALS, 'invalid e-mail or password');
    }
    await this.store.decr(attemptsKey);
    await this.users.touchLogin(creds.id);
    const refreshToken = await this.refreshTokens.issue(creds.id, this.config.refreshTokenTtlS);
    onOutcome('success', creds.id);
    return { user: { id: creds.id, email: creds.email, role: creds.role }, refreshToken };
  }

  /** Rotates a refresh token; reuse of a rotated token revokes its family (401 TOKEN_REUSED). */
  /** `onReuse` (the audit record) completes before the 401 is answered. */
  async refresh(token: string, onReuse: (userId: string) => Promise<void>): Promise<LoginOk> {
    const r = await this.refreshTokens.rotate(token, this.config.refreshTokenTtlS);
    if (r.kind === 'reused') {
      await onReuse(r.userId);
      throw new AppError(
        ERROR_CODES.TOKEN_REUSED,
        'refresh token was already used; all sessions of this login were revoked',
      );
    }
    if (r.kind === 'expired') throw new AppError(ERROR_CODES.TOKEN_EXPIRED, 'refresh token expired');
    if (r.kind === 'invalid') throw new AppError(ERROR_CODES.TOKEN_INVALID, 'refresh token invalid');
    if (r.kind === 'disabled') throw new AppError(ERROR_CODES.ACCOUNT_DISABLED, 'account is disabled');
    const user = await this.users.findById(r.userId);
    if (user === null || user.disabledAt !== null) {
      await this.refreshTokens.revokeByToken(r.token);
      throw new AppError(ERROR_CODES.ACCOUNT_DISABLED, 'account is disabled');
    }
    return { user: { id: user.id, email: user.email, role: user.role }, refreshToken: r.token };
  }
}
