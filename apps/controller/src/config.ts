/**
 * Controller configuration: read from the environment (and `.env` in the working directory, which
 * never overrides variables already set), validated once at boot. Every invalid variable is named
 * in the thrown ConfigError so operators can fix them all at once.
 */
import path from 'node:path';
import net from 'node:net';
import os from 'node:os';
import { config as loadDotenv } from 'dotenv';
import { REVOCATION_WAIT_MAX_S } from '@corridor/protocol/control';

export type Environment = 'production' | 'development' | 'test';

export interface Argon2Params {
  /** KiB */
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

export interface Config {
  readonly env: Environment;
  readonly host: string;
  readonly port: number;
  readonly logLevel: string;
  /**
   * Which X-Forwarded-For hops to believe (Fastify `trustProxy`): false = none (the socket address
   * is the client), a hop count, or the proxies' addresses/CIDRs. Never "trust everything": the
   * left-most X-Forwarded-For entry is whatever the client sent, so rate limits would be per
   * attacker-chosen string.
   */
  readonly trustProxy: false | number | string[];
  /** Holds the embedded database, generated TLS pair and generated secrets (dev only). */
  readonly dataDir: string;
  /** Unset: embedded PGlite in `dataDir/pgdata`. */
  readonly databaseUrl: string | undefined;
  /** Unset: in-process store (single instance only). */
  readonly redisUrl: string | undefined;
  /** Prefix for every Redis key and pub/sub channel, so several deployments (or tests) can share a server. */
  readonly redisKeyPrefix: string;
  readonly databasePoolSize: number;
  /** Longest a request waits for a database connection (then 503 with Retry-After). */
  readonly databasePoolTimeoutS: number;
  /** PostgreSQL server: longest statement, and longest idle time inside a transaction. */
  readonly databaseStatementTimeoutS: number;
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  /** Unset in dev: generated into `dataDir/jwt-secret` (0600). Required in production. */
  readonly jwtSecret: string | undefined;
  readonly accessTokenTtlS: number;
  readonly refreshTokenTtlS: number;
  /** 32 bytes (base64 or hex). Unset in dev: generated into `dataDir/signing-key-encryption-key`. */
  readonly signingKeyEncryptionKey: Buffer | undefined;
  /** How long one Ed25519 key signs tickets before the next one takes over. */
  readonly signingKeyRotationS: number;
  readonly ticketTtlS: number;
  readonly deviceLimit: number;
  /**
   * Device registrations one user may make per `deviceRegistrationWindowS` (fixed window, shared
   * store). Removing a device records a revocation that every node downloads, so registering and
   * removing in a loop would let one account flood the revocation feed.
   */
  readonly deviceRegistrationsPerUser: number;
  readonly deviceRegistrationWindowS: number;
  readonly argon2: Argon2Params;
  readonly loginMaxAttemptsPerAccount: number;
  readonly loginMaxAttemptsPerIp: number;
  readonly loginWindowS: number;
  readonly loginLockoutS: number;
  readonly nodeLivenessTtlS: number;
  readonly enrollmentTokenTtlS: number;
  readonly bodyLimitBytes: number;
  readonly adminEmail: string | undefined;
  readonly adminPassword: string | undefined;
  readonly defaultBandwidthBytesPerSec: number;
  readonly defaultDataQuotaBytes: number;
  /**
   * Bearer token that `GET /metrics` requires when set (compared in constant time). Optional in
   * development and test; required in production, where metrics would otherwise reveal node ids,
   * traffic and login-failure rates to anyone who can reach the port.
   */
  readonly metricsToken: string | undefined;
  /** Longest time a client may take to send one request (headers and body); then 408 and close. */
  readonly requestTimeoutS: number;
  /** Idle socket timeout; longer than the longest revocation long poll. */
  readonly connectionTimeoutS: number;
  /** Tickets one user may be issued per `ticketLimitWindowS` (fixed window, shared store). */
  readonly ticketLimitPerUser: number;
  readonly ticketLimitWindowS: number;
  /** Retention (rows older than this are deleted by the pruner, every `retentionIntervalS`). */
  readonly retention: RetentionConfig;
  /** Concurrent revocation long polls held per replica; more are answered 503 with Retry-After. */
  readonly revocationWaitersMax: number;
  /** `cacheSeconds` of online authorisation answers (`POST /v1/agent/authorize`). */
  readonly authorizeCacheS: number;
}

export interface RetentionConfig {
  /** How often the pruner runs (one replica at a time). */
  readonly intervalS: number;
  /** Tickets: kept this long after they expire (sessions and audits refer to them). */
  readonly ticketsS: number;
  /** Refresh tokens: kept this long after they expired, were rotated or were revoked (reuse detection). */
  readonly refreshTokensS: number;
  /** Sessions: kept this long after their last report. */
  readonly sessionsS: number;
  /** Audit events. */
  readonly auditS: number;
  /** Daily usage rows. */
  readonly usageS: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Production-grade defaults (OWASP minimum for argon2id: m=19 MiB, t=2, p=1). */
export const DEFAULT_ARGON2: Argon2Params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

type Env = Record<string, string | undefined>;

const TEN_YEARS_S = 10 * 365 * 86_400;

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  str(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  int(name: string, def: number, min: number, max: number): number {
    const raw = this.str(name);
    if (raw === undefined) return def;
    if (!/^\d+$/.test(raw)) {
      this.problems.push(`${name} must be an integer between ${min} and ${max} (got "${raw}")`);
      return def;
    }
    const n = Number(raw);
    if (n < min || n > max) {
      this.problems.push(`${name} must be between ${min} and ${max} (got ${n})`);
      return def;
    }
    return n;
  }

  bool(name: string, def: boolean): boolean {
    const raw = this.str(name);
    if (raw === undefined) return def;
    if (['1', 'true', 'yes'].includes(raw.toLowerCase())) return true;
    if (['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
    this.problems.push(`${name} must be true or false (got "${raw}")`);
    return def;
  }

  /** false | hop count (`true` = 1: one load balancer in front) | comma-separated IPs/CIDRs. */
  trustProxy(name: string): false | number | string[] {
    const raw = this.str(name);
    if (raw === undefined || ['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
    if (['true', 'yes'].includes(raw.toLowerCase())) return 1;
    if (/^\d{1,2}$/.test(raw)) return Number(raw);
    const list = raw.split(',').map((p) => p.trim());
    const ipOrCidr = (p: string) => {
      const [addr, bits, extra] = p.split('/');
      if (extra !== undefined || addr === undefined) return false;
      const v = net.isIP(addr);
      if (v === 0) return false;
      return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (v === 4 ? 32 : 128));
    };
    if (list.length > 0 && list.every(ipOrCidr)) return list;
    this.problems.push(
      `${name} must be false, a hop count, or comma-separated proxy IPs/CIDRs (got "${raw}")`,
    );
    return false;
  }

  url(name: string, protocols: string[]): string | undefined {
    const raw = this.str(name);
    if (raw === undefined) return undefined;
    try {
      const u = new URL(raw);
      if (!protocols.includes(u.protocol)) throw new Error('protocol');
      return raw;
    } catch {
      this.problems.push(`${name} must be a ${protocols.join(' or ')}// URL`);
      return undefined;
    }
  }

  /**
   * 32 bytes as 64 hex digits, or as canonical base64 / base64url (43 characters and an optional
   * `=`). Anything else is refused: Node's base64 decoder skips characters it does not know, so a
   * lenient decode would turn a typo into a different key.
   */
  key32(name: string): Buffer | undefined {
    const raw = this.str(name);
    if (raw === undefined) return undefined;
    let buf: Buffer | undefined;
    if (/^[0-9a-fA-F]{64}$/.test(raw)) buf = Buffer.from(raw, 'hex');
    else if (/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=?$/.test(raw)) buf = Buffer.from(raw, 'base64');
    else if (/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(raw)) buf = Buffer.from(raw, 'base64url');
    if (buf === undefined || buf.length !== 32) {
      this.problems.push(`${name} must be 32 bytes: 64 hex digits or 43/44 base64 characters`);
      return undefined;
    }
    return buf;
  }
}

/**
 * Parses and validates configuration. `env` defaults to `process.env` after loading `.env` from the
 * working directory. Throws ConfigError listing every bad variable.
 */
export function loadConfig(env?: Env): Config {
  if (env === undefined) {
    loadDotenv({ quiet: true });
    env = process.env;
  }
  const r = new Reader(env);
  const envName = r.str('NODE_ENV') ?? 'development';
  let environment: Environment = 'development';
  if (envName === 'production' || envName === 'development' || envName === 'test') environment = envName;
  else r.problems.push(`NODE_ENV must be production, development or test (got "${envName}")`);

  const dataDir = path.resolve(r.str('CORRIDOR_DATA_DIR') ?? defaultDataDir());
  const jwtSecret = r.str('JWT_SECRET');
  if (jwtSecret !== undefined && jwtSecret.length < 32)
    r.problems.push('JWT_SECRET must be at least 32 characters');
  const tlsCertFile = r.str('TLS_CERT_FILE');
  const tlsKeyFile = r.str('TLS_KEY_FILE');
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined))
    r.problems.push('TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  const signingKeyEncryptionKey = r.key32('SIGNING_KEY_ENCRYPTION_KEY');
  const metricsToken = r.str('METRICS_TOKEN');
  if (metricsToken !== undefined && !/^[\x21-\x7e]{16,512}$/.test(metricsToken))
    r.problems.push('METRICS_TOKEN must be 16 to 512 printable ASCII characters without spaces');
  if (environment === 'production') {
    if (jwtSecret === undefined) r.problems.push('JWT_SECRET is required in production');
    if (tlsCertFile === undefined)
      r.problems.push('TLS_CERT_FILE and TLS_KEY_FILE are required in production');
    // A blank variable is no key (it used to pass this check and fall back to a generated one).
    if (r.str('SIGNING_KEY_ENCRYPTION_KEY') === undefined)
      r.problems.push('SIGNING_KEY_ENCRYPTION_KEY is required in production');
    if (metricsToken === undefined) r.problems.push('METRICS_TOKEN is required in production');
    // The embedded database is a development convenience: single instance, no authentication.
    if (r.str('DATABASE_URL') === undefined)
      r.problems.push('DATABASE_URL is required in production (the embedded database is for development)');
  }
  const adminEmail = r.str('CORRIDOR_ADMIN_EMAIL');
  const adminPassword = r.str('CORRIDOR_ADMIN_PASSWORD');
  // A password alone is fine: `create-admin --email` reads it from the environment.
  if (adminEmail !== undefined && adminPassword === undefined)
    r.problems.push('CORRIDOR_ADMIN_EMAIL needs CORRIDOR_ADMIN_PASSWORD');
  if (adminPassword !== undefined && adminPassword.length < 10)
    r.problems.push('CORRIDOR_ADMIN_PASSWORD must be at least 10 characters');

  const config: Config = {
    env: environment,
    host: r.str('HOST') ?? '127.0.0.1',
    port: r.int('PORT', 8443, 0, 65_535),
    logLevel: r.str('LOG_LEVEL') ?? (environment === 'test' ? 'silent' : 'info'),
    trustProxy: r.trustProxy('TRUST_PROXY'),
    dataDir,
    databaseUrl: r.url('DATABASE_URL', ['postgresql:', 'postgres:']),
    redisUrl: r.url('REDIS_URL', ['redis:', 'rediss:']),
    redisKeyPrefix: r.str('REDIS_KEY_PREFIX') ?? 'corridor:',
    databasePoolSize: r.int('DATABASE_POOL_SIZE', 10, 1, 200),
    databasePoolTimeoutS: r.int('DATABASE_POOL_TIMEOUT_S', 10, 1, 600),
    databaseStatementTimeoutS: r.int('DATABASE_STATEMENT_TIMEOUT_S', 60, 1, 3_600),
    tlsCertFile,
    tlsKeyFile,
    jwtSecret,
    accessTokenTtlS: r.int('ACCESS_TOKEN_TTL_S', 900, 30, 86_400),
    refreshTokenTtlS: r.int('REFRESH_TOKEN_TTL_S', 30 * 86_400, 60, 365 * 86_400),
    signingKeyEncryptionKey,
    signingKeyRotationS: r.int('SIGNING_KEY_ROTATION_S', 7 * 86_400, 60, 365 * 86_400),
    ticketTtlS: r.int('TICKET_TTL_S', 12 * 3_600, 60, 7 * 86_400),
    deviceLimit: r.int('DEVICE_LIMIT', 5, 1, 1_000),
    deviceRegistrationsPerUser: r.int('DEVICE_REGISTRATIONS_PER_USER', 20, 1, 1_000_000),
    deviceRegistrationWindowS: r.int('DEVICE_REGISTRATION_WINDOW_S', 3_600, 1, 86_400),
    argon2: {
      memoryCost: r.int('ARGON2_MEMORY_KIB', DEFAULT_ARGON2.memoryCost, 1_024, 4_194_304),
      timeCost: r.int('ARGON2_TIME_COST', DEFAULT_ARGON2.timeCost, 1, 100),
      parallelism: r.int('ARGON2_PARALLELISM', DEFAULT_ARGON2.parallelism, 1, 16),
    },
    loginMaxAttemptsPerAccount: r.int('LOGIN_MAX_ATTEMPTS_PER_ACCOUNT', 5, 1, 10_000),
    loginMaxAttemptsPerIp: r.int('LOGIN_MAX_ATTEMPTS_PER_IP', 30, 1, 1_000_000),
    loginWindowS: r.int('LOGIN_WINDOW_S', 900, 1, 86_400),
    loginLockoutS: r.int('LOGIN_LOCKOUT_S', 900, 1, 86_400),
    nodeLivenessTtlS: r.int('NODE_LIVENESS_TTL_S', 45, 5, 3_600),
    enrollmentTokenTtlS: r.int('ENROLLMENT_TOKEN_TTL_S', 86_400, 60, 30 * 86_400),
    bodyLimitBytes: r.int('BODY_LIMIT_BYTES', 64 * 1024, 1_024, 10 * 1024 * 1024),
    adminEmail: adminEmail?.toLowerCase(),
    adminPassword,
    defaultBandwidthBytesPerSec: r.int('DEFAULT_BANDWIDTH_BYTES_PER_SEC', 0, 0, Number.MAX_SAFE_INTEGER),
    defaultDataQuotaBytes: r.int('DEFAULT_DATA_QUOTA_BYTES', 0, 0, Number.MAX_SAFE_INTEGER),
    metricsToken,
    requestTimeoutS: r.int('REQUEST_TIMEOUT_S', 30, 1, 3_600),
    connectionTimeoutS: r.int('CONNECTION_TIMEOUT_S', 90, REVOCATION_WAIT_MAX_S + 5, 3_600),
    ticketLimitPerUser: r.int('TICKET_LIMIT_PER_USER', 120, 1, 1_000_000_000),
    ticketLimitWindowS: r.int('TICKET_LIMIT_WINDOW_S', 3_600, 1, 86_400),
    retention: {
      intervalS: r.int('RETENTION_INTERVAL_S', 3_600, 10, 86_400),
      // At least an hour: a session's final report (heartbeat `ended`) arrives after its ticket
      // expired and counts only while the ticket row exists.
      ticketsS: r.int('TICKET_RETENTION_S', 7 * 86_400, 3_600, TEN_YEARS_S),
      refreshTokensS: r.int('REFRESH_TOKEN_RETENTION_S', 7 * 86_400, 0, TEN_YEARS_S),
      sessionsS: r.int('SESSION_RETENTION_S', 90 * 86_400, 3_600, TEN_YEARS_S),
      auditS: r.int('AUDIT_RETENTION_S', 365 * 86_400, 86_400, TEN_YEARS_S),
      usageS: r.int('USAGE_RETENTION_S', 400 * 86_400, 86_400, TEN_YEARS_S),
    },
    revocationWaitersMax: r.int('REVOCATION_WAITERS_MAX', 10_000, 0, 1_000_000),
    authorizeCacheS: r.int('AUTHORIZE_CACHE_S', 30, 0, 300),
  };
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}

/** `$CORRIDOR_DATA_DIR`, else `$XDG_DATA_HOME/corridor`, else `~/.local/share/corridor`. */
function defaultDataDir(): string {
  const xdg = process.env.XDG_DATA_HOME;
  return path.join(xdg && xdg.length > 0 ? xdg : path.join(os.homedir(), '.local', 'share'), 'corridor');
}

/** Config for tests: validated like production input, with overrides applied on top of the env map. */
export function testConfig(overrides: Env): Config {
  return loadConfig({ NODE_ENV: 'test', ...overrides });
}
