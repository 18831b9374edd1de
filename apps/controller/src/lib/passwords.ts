/**
 * argon2id password hashing. The parameters come from config (default: OWASP minimum m=19 MiB,
 * t=2, p=1); hashes record their own parameters, so changing config only affects new hashes.
 * `verify` for an unknown account runs against a dummy hash with the same parameters so the
 * response time does not reveal whether the account exists.
 */
import argon2 from 'argon2';
import type { Argon2Params } from '../config.js';

export const MIN_PASSWORD_LENGTH = 10;

export class PasswordHasher {
  private dummy: Promise<string> | undefined;

  constructor(readonly params: Argon2Params) {}

  hash(password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id, ...this.params });
  }

  /** Verifies `password` against `hash`; `hash === null` (unknown user) costs the same and fails. */
  async verify(hash: string | null, password: string): Promise<boolean> {
    if (hash === null) {
      this.dummy ??= this.hash('corridor-dummy-password-for-timing');
      await argon2.verify(await this.dummy, password).catch(() => false);
      return false;
    }
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false;
    }
  }

  /** Precomputes the dummy hash so the first unknown-user login is not faster/slower than others. */
  async warmUp(): Promise<void> {
    this.dummy ??= this.hash('corridor-dummy-password-for-timing');
    await this.dummy;
  }

  describe(): string {
    return `argon2id m=${this.params.memoryCost}KiB t=${this.params.timeCost} p=${this.params.parallelism}`;
  }
}
