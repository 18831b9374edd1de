import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_ARGON2, loadConfig } from '../src/config.js';

describe('config', () => {
  it('has production-grade defaults', () => {
    const c = loadConfig({ NODE_ENV: 'development', CORRIDOR_DATA_DIR: '/tmp/x' });
    expect(c.argon2).toEqual(DEFAULT_ARGON2);
    expect(DEFAULT_ARGON2).toEqual({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    expect(c.accessTokenTtlS).toBe(900);
    expect(c.deviceLimit).toBe(5);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.redisUrl).toBeUndefined();
    expect(c.port).toBe(8443);
    // Tickets outlive their expiry long enough for their sessions' final reports.
    expect(() => loadConfig({ TICKET_RETENTION_S: '0' })).toThrow(/TICKET_RETENTION_S must be between 3600/);
  });

  it('names every bad variable', () => {
    let err: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://x',
        DEVICE_LIMIT: '0',
        JWT_SECRET: 'short',
        SIGNING_KEY_ENCRYPTION_KEY: 'abc',
        TLS_CERT_FILE: '/x.pem',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as ConfigError).message;
    for (const name of [
      'PORT',
      'DATABASE_URL',
      'DEVICE_LIMIT',
      'JWT_SECRET',
      'SIGNING_KEY_ENCRYPTION_KEY',
      'TLS_CERT_FILE',
    ])
      expect(msg).toContain(name);
    expect((err as ConfigError).problems).toHaveLength(6);
  });

  it('requires secrets and certificates in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      /JWT_SECRET[\s\S]*TLS_CERT_FILE[\s\S]*SIGNING_KEY_ENCRYPTION_KEY/,
    );
    expect(() => loadConfig({ NODE_ENV: 'staging' })).toThrow(/NODE_ENV/);
    const prod = {
      NODE_ENV: 'production',
      JWT_SECRET: 'j'.repeat(32),
      TLS_CERT_FILE: '/c.pem',
      TLS_KEY_FILE: '/k.pem',
      SIGNING_KEY_ENCRYPTION_KEY: 'ab'.repeat(32),
      METRICS_TOKEN: 'metrics-token-0123456789',
      DATABASE_URL: 'postgresql://corridor@db.internal/corridor',
    };
    expect(loadConfig(prod).metricsToken).toBe('metrics-token-0123456789');
    // No embedded (unauthenticated, single-instance) database in production.
    expect(() => loadConfig({ ...prod, DATABASE_URL: undefined })).toThrow(/DATABASE_URL is required/);
    expect(() => loadConfig({ ...prod, METRICS_TOKEN: undefined })).toThrow(/METRICS_TOKEN is required/);
    expect(() => loadConfig({ ...prod, METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN must be/);
    // A blank key is no key: production must not fall back to a generated one.
    expect(() => loadConfig({ ...prod, SIGNING_KEY_ENCRYPTION_KEY: '' })).toThrow(
      /SIGNING_KEY_ENCRYPTION_KEY is required/,
    );
    expect(loadConfig({ NODE_ENV: 'development' }).metricsToken).toBeUndefined();
  });

  it('parses TRUST_PROXY as hops or proxy addresses, never "trust all"', () => {
    expect(loadConfig({ CORRIDOR_DATA_DIR: '/tmp/x' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.10,fd00::/8' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '192.168.1.10',
      'fd00::/8',
    ]);
    for (const bad of ['maybe', '10.0.0.0/33', '10.0.0.1,', 'lb.internal'])
      expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/);
  });

  it('accepts hex and base64 encryption keys', () => {
    const hex = 'ab'.repeat(32);
    expect(loadConfig({ SIGNING_KEY_ENCRYPTION_KEY: hex }).signingKeyEncryptionKey?.length).toBe(32);
    const key = Buffer.alloc(32, 7);
    for (const text of [
      key.toString('base64'),
      key.toString('base64').replace('=', ''),
      key.toString('base64url'),
    ])
      expect(loadConfig({ SIGNING_KEY_ENCRYPTION_KEY: text }).signingKeyEncryptionKey, text).toEqual(key);
  });

  it('refuses encryption keys that only a lenient base64 decoder would accept', () => {
    const b64 = Buffer.alloc(32, 9).toString('base64');
    for (const bad of [
      `${b64.slice(0, 10)}!${b64.slice(11)}`, // a stray character Node's decoder would skip
      `${b64.slice(0, 20)} ${b64.slice(20)}`,
      `${b64}AAAA`, // 35 bytes
      b64.slice(0, 42) + 'B=', // non-canonical final character (low bits set)
      'ab'.repeat(31) + 'zz',
    ]) {
      expect(() => loadConfig({ SIGNING_KEY_ENCRYPTION_KEY: bad }), bad).toThrow(
        /SIGNING_KEY_ENCRYPTION_KEY/,
      );
    }
  });
});
