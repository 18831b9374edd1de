/**
 * What the apps' own configuration loaders read, so deployment files are checked against the real
 * schemas (a renamed or misspelt variable fails the deploy tests instead of being ignored at boot).
 */
import { randomBytes } from 'node:crypto';
import { loadConfig as loadControllerConfig, type Config } from '../../../apps/controller/src/config.js';
import {
  OPTIONS,
  envName,
  loadConfig as loadNodeConfig,
  type ConfigResult,
} from '../../../apps/node-agent/src/config.js';

export { loadControllerConfig, loadNodeConfig, type Config, type ConfigResult };

type Env = Record<string, string | undefined>;

/**
 * Runs the controller's loadConfig on `env` and returns the config (or the ConfigError) together
 * with every variable name the loader looked up.
 */
export function controllerConfigWithReads(env: Env): { config?: Config; error?: Error; read: Set<string> } {
  const read = new Set<string>();
  const recording = new Proxy(env, {
    get(target, key) {
      if (typeof key === 'string') read.add(key);
      return Reflect.get(target, key);
    },
  });
  try {
    return { config: loadControllerConfig(recording), read };
  } catch (error) {
    return { error: error as Error, read };
  }
}

/** Every variable the controller's loader reads (production mode, so the required ones are included). */
export function controllerEnvNames(): Set<string> {
  return controllerConfigWithReads({ NODE_ENV: 'production' }).read;
}

/** Every node agent environment variable (one per option: CORRIDOR_<OPTION>). */
export function nodeEnvNames(): Set<string> {
  return new Set(OPTIONS.map((o) => envName(o.key)));
}

/**
 * Values for the secrets deployment files leave empty, generated the way docs/deploy.md tells
 * operators to (openssl rand ...), so the schemas validate what a real operator would put there.
 */
export function sampleSecrets(): Record<string, string> {
  return {
    POSTGRES_SUPERUSER_PASSWORD: randomBytes(32).toString('hex'),
    CORRIDOR_DB_PASSWORD: randomBytes(32).toString('hex'),
    REDIS_PASSWORD: randomBytes(32).toString('hex'),
    JWT_SECRET: randomBytes(48).toString('base64'),
    SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    METRICS_TOKEN: randomBytes(32).toString('hex'),
    CORRIDOR_ADMIN_EMAIL: 'admin@example.com',
    CORRIDOR_ADMIN_PASSWORD: randomBytes(18).toString('base64url'),
    CORRIDOR_NODE_ID: 'fra-1',
    CORRIDOR_ENROLLMENT_TOKEN: randomBytes(32).toString('base64url'),
  };
}

/** `env` with every empty value that sampleSecrets() knows replaced by a generated one. */
export function fillSecrets(env: Record<string, string>): Record<string, string> {
  const secrets = sampleSecrets();
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, v === '' && secrets[k] !== undefined ? secrets[k] : v]),
  );
}
