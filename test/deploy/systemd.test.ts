/**
 * deploy/systemd units: `systemd-analyze verify` (unit syntax, known keys, valid values — any
 * warning fails) and `systemd-analyze security --offline` (exposure under a threshold), when
 * systemd-analyze is installed (Debian package systemd; otherwise these two skip with the reason
 * printed). Always: the hardening settings read from the files, credentials through LoadCredential
 * and 0600 environment files, the programs they start exist in the repository, and the environment
 * each unit gives its app (Environment=, the example EnvironmentFile, the example JSON config)
 * passes the app's own config loader, naming only variables the loader reads.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { environment, parseEnvFile, parseUnitFile, value, values, type UnitFile } from './lib/unit-file.js';
import {
  controllerConfigWithReads,
  controllerEnvNames,
  fillSecrets,
  loadNodeConfig,
  nodeEnvNames,
} from './lib/config-keys.js';
import { exists, repo } from './lib/paths.js';

const UNITS = ['corridor-controller.service', 'corridor-node.service'] as const;
const unit = (name: string): UnitFile => parseUnitFile(readFileSync(repo('deploy/systemd', name), 'utf8'));
const controller = unit('corridor-controller.service');
const node = unit('corridor-node.service');

/** Where the units expect the repository (docs/deploy.md installs it there). */
const INSTALL_DIR = '/opt/corridor';
/** Example files in deploy/env for the paths the units read under /etc/corridor. */
const EXAMPLES: Record<string, string> = {
  '/etc/corridor/controller.env': 'deploy/env/controller.env.example',
  '/etc/corridor/node.env': 'deploy/env/node.env.example',
  '/etc/corridor/node.json': 'deploy/env/node.json.example',
};

/** Replaces the specifiers the units use: %S state root, %d credentials directory. */
function specifiers(text: string, unitName: string): string {
  return text.replaceAll('%S', '/var/lib').replaceAll('%d', `/run/credentials/${unitName}`);
}

/** The environment systemd gives the service: Environment= lines, then the (example) EnvironmentFile. */
function serviceEnv(u: UnitFile, unitName: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(environment(u))) env[k] = specifiers(v, unitName);
  for (const file of values(u, 'Service', 'EnvironmentFile')) {
    const example = EXAMPLES[file.replace(/^-/, '')];
    expect(example, `${file} has an example in deploy/env`).toBeDefined();
    Object.assign(env, fillSecrets(parseEnvFile(readFileSync(repo(example!), 'utf8'))));
  }
  return env;
}

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const noAnalyze =
  analyze.status === 0 ? undefined : 'systemd-analyze is not installed (Debian package systemd)';
if (noAnalyze) console.warn(`[deploy/systemd] skipping systemd-analyze checks: ${noAnalyze}`);

describe.skipIf(noAnalyze !== undefined)('systemd units: systemd-analyze', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'corridor-units-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // verify insists that ExecStart's program exists. The units name /usr/bin/node (Debian and
  // NodeSource packages); where Node lives elsewhere, verify a copy naming this Node instead.
  for (const name of UNITS) {
    let text = readFileSync(repo('deploy/systemd', name), 'utf8');
    if (!existsSync('/usr/bin/node')) {
      console.warn(`[deploy/systemd] /usr/bin/node is missing: verifying ${name} with ${process.execPath}`);
      text = text.replaceAll('/usr/bin/node', process.execPath);
    }
    writeFileSync(path.join(dir, name), text);
  }

  it.each(UNITS)('%s passes systemd-analyze verify without a warning', (name) => {
    const r = spawnSync('systemd-analyze', ['verify', path.join(dir, name)], { encoding: 'utf8' });
    expect(r.stderr + r.stdout).toBe('');
    expect(r.status).toBe(0);
  });

  it('verify does fail on a misspelt key (the check above can fail)', () => {
    const bad = path.join(dir, 'corridor-typo.service');
    copyFileSync(path.join(dir, UNITS[0]), bad);
    writeFileSync(bad, readFileSync(bad, 'utf8').replace('ProtectSystem=strict', 'ProtectSytem=strict'));
    const r = spawnSync('systemd-analyze', ['verify', bad], { encoding: 'utf8' });
    expect(r.stderr).toMatch(/Unknown key/);
    rmSync(bad);
  });

  it.each([
    ['corridor-controller.service', 1.5],
    ['corridor-node.service', 2.5],
  ] as const)('%s has an exposure level of at most %s', (name, max) => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', path.join(dir, name)], {
      encoding: 'utf8',
    });
    const level = Number(/Overall exposure level for [^:]+: ([\d.]+)/.exec(r.stdout)?.[1]);
    expect(level, r.stdout.slice(-400)).toBeLessThanOrEqual(max);
  });
});

describe('systemd units: hardening read from the files', () => {
  it.each([
    ['corridor-controller.service', controller],
    ['corridor-node.service', node],
  ] as const)('%s: no new privileges, read-only system, private state', (name, u) => {
    const s = (k: string) => value(u, 'Service', k);
    expect(s('NoNewPrivileges')).toBe('yes');
    expect(s('ProtectSystem')).toBe('strict');
    expect(s('ProtectHome')).toBe('yes');
    expect(s('PrivateTmp')).toBe('yes');
    expect(s('ProtectKernelTunables')).toBe('yes');
    expect(s('ProtectKernelModules')).toBe('yes');
    expect(s('ProtectControlGroups')).toBe('yes');
    expect(s('RestrictSUIDSGID')).toBe('yes');
    expect(s('SystemCallFilter')).toBeDefined();
    expect(s('UMask')).toBe('0077');
    expect(s('DynamicUser')).toBe('yes');
    expect(s('User')).not.toBe('root');
    const state = name.replace('.service', '');
    expect(s('StateDirectory')).toBe(state);
    expect(s('StateDirectoryMode')).toBe('0700');
    expect(s('Restart')).toBe('on-failure');
    expect(value(u, 'Install', 'WantedBy')).toBe('multi-user.target');
  });

  it('the controller has no capabilities at all', () => {
    expect(values(controller, 'Service', 'CapabilityBoundingSet')).toEqual([]);
    expect(values(controller, 'Service', 'AmbientCapabilities')).toEqual([]);
    // An empty assignment is present (it resets the set to nothing), not merely left out.
    expect(controller.get('Service')).toContainEqual(['CapabilityBoundingSet', '']);
    expect(value(controller, 'Service', 'PrivateDevices')).toBe('yes');
    expect(value(controller, 'Service', 'RestrictAddressFamilies')).toBe('AF_INET AF_INET6 AF_UNIX');
  });

  it('the node has CAP_NET_ADMIN (and CAP_NET_BIND_SERVICE for TCP 443) and /dev/net/tun only', () => {
    const caps = (k: string) => values(node, 'Service', k).join(' ').split(/\s+/).sort();
    expect(caps('CapabilityBoundingSet')).toEqual(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE']);
    expect(caps('AmbientCapabilities')).toEqual(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE']);
    expect(value(node, 'Service', 'DevicePolicy')).toBe('closed');
    expect(values(node, 'Service', 'DeviceAllow')).toEqual(['/dev/net/tun rw']);
    expect(value(node, 'Service', 'RestrictAddressFamilies')?.split(' ')).toContain('AF_NETLINK');
  });

  it('the node finds forwarding on, since its sandbox keeps /proc/sys read-only', () => {
    const sysctl = readFileSync(repo('deploy/systemd/90-corridor-node.conf'), 'utf8');
    const set = Object.fromEntries(
      [...sysctl.matchAll(/^([a-z0-9_.]+)\s*=\s*(\S+)$/gm)].map((m) => [m[1] as string, m[2] as string]),
    );
    expect(set['net.ipv4.ip_forward']).toBe('1');
    expect(set['net.ipv6.conf.all.forwarding']).toBe('1');
    expect(value(node, 'Unit', 'Documentation')).toBe(value(controller, 'Unit', 'Documentation'));
  });

  it('hand secrets over as credentials or 0600 environment files, never in the unit', () => {
    const unitText = UNITS.map((n) => readFileSync(repo('deploy/systemd', n), 'utf8')).join('\n');
    for (const secret of [
      'JWT_SECRET',
      'SIGNING_KEY_ENCRYPTION_KEY',
      'METRICS_TOKEN',
      'DATABASE_URL',
      'REDIS_URL',
    ])
      expect(unitText).not.toMatch(new RegExp(`Environment=${secret}=`));
    for (const [name, u] of [
      ['corridor-controller.service', controller],
      ['corridor-node.service', node],
    ] as const) {
      const creds = new Map(
        values(u, 'Service', 'LoadCredential').map((c) => c.split(':') as [string, string]),
      );
      const env = environment(u);
      // Every %d/<name> the service is told about is loaded as a credential, and vice versa.
      const referenced = Object.values(env)
        .filter((v) => v.startsWith('%d/'))
        .map((v) => v.slice(3));
      expect(referenced.sort(), name).toEqual([...creds.keys()].sort());
      for (const source of creds.values()) expect(source, name).toMatch(/^\/etc\/corridor\//);
      for (const file of values(u, 'Service', 'EnvironmentFile'))
        expect(readFileSync(repo(EXAMPLES[file.replace(/^-/, '')]!), 'utf8'), file).toMatch(/0600/);
    }
    expect(values(controller, 'Service', 'LoadCredential')).toContain(
      'tls-key.pem:/etc/corridor/tls/key.pem',
    );
  });

  it.each([
    ['corridor-controller.service', controller, '@corridor/controller', 'serve'],
    ['corridor-node.service', node, '@corridor/node-agent', 'run'],
  ] as const)('%s starts the built bin of %s', (name, u, pkgName, command) => {
    const [program, script, arg, ...rest] = value(u, 'Service', 'ExecStart')!.split(/\s+/);
    expect(program).toBe('/usr/bin/node');
    expect(rest).toEqual([]);
    expect(arg).toBe(command);
    expect(script!.startsWith(`${INSTALL_DIR}/`)).toBe(true);
    const rel = script!.slice(INSTALL_DIR.length + 1);
    const dir = rel.split('/').slice(0, 2).join('/');
    const manifest = JSON.parse(readFileSync(repo(dir, 'package.json'), 'utf8')) as {
      name: string;
      bin: Record<string, string>;
    };
    expect(manifest.name).toBe(pkgName);
    expect(`${dir}/${Object.values(manifest.bin)[0]}`).toBe(rel);
    expect(exists(rel.replace('/dist/', '/src/').replace(/\.js$/, '.ts')), name).toBe(true);
    // The working directory is the (empty) state directory: the controller reads `.env` from it.
    expect(value(u, 'Service', 'WorkingDirectory')).toBe(`%S/${value(u, 'Service', 'StateDirectory')}`);
  });
});

describe('systemd units: the environment passes the apps’ config loaders', () => {
  it('corridor-controller.service + controller.env.example is a valid production configuration', () => {
    const env = serviceEnv(controller, 'corridor-controller.service');
    const names = controllerEnvNames();
    for (const key of Object.keys(env)) expect(names, `${key} is a controller setting`).toContain(key);
    const { config, error } = controllerConfigWithReads(env);
    expect(error?.message).toBeUndefined();
    expect(config!.env).toBe('production');
    expect(config!.dataDir).toBe('/var/lib/corridor-controller');
    expect(config!.tlsKeyFile).toBe('/run/credentials/corridor-controller.service/tls-key.pem');
    expect(config!.databaseUrl).toMatch(/^postgresql:\/\//);
    expect(config!.redisUrl).toMatch(/^redis:\/\//);
  });

  it('the example leaves the secrets empty, and the controller refuses to start that way', () => {
    const example = parseEnvFile(readFileSync(repo('deploy/env/controller.env.example'), 'utf8'));
    for (const k of ['JWT_SECRET', 'SIGNING_KEY_ENCRYPTION_KEY', 'METRICS_TOKEN'])
      expect(example[k], k).toBe('');
    const env = { ...specifiedEnv(controller, 'corridor-controller.service'), ...example };
    expect(controllerConfigWithReads(env).error?.message).toMatch(/JWT_SECRET is required in production/);
  });

  it('corridor-node.service + node.json.example + node.env.example is a valid node configuration', () => {
    const env = serviceEnv(node, 'corridor-node.service');
    const names = nodeEnvNames();
    for (const key of Object.keys(env)) expect(names, `${key} is a node agent option`).toContain(key);
    const configFile = env.CORRIDOR_CONFIG!;
    const r = loadNodeConfig(env, [], (p) => {
      expect(p).toBe(configFile);
      return readFileSync(repo(EXAMPLES[p]!), 'utf8');
    });
    expect(r.ok ? [] : r.problems).toEqual([]);
    if (!r.ok) return;
    expect(r.config.dataDir).toBe('/var/lib/corridor-node');
    expect(r.config.controllerCaFile).toBe('/run/credentials/corridor-node.service/controller-ca.pem');
    expect(r.config.controllerUrl?.protocol).toBe('https:');
    expect(r.config.tcpListen?.port).toBe(443);
    // The status socket is inside the private state directory.
    expect(r.config.statusSocket.startsWith(r.config.dataDir + '/')).toBe(true);
  });

  it('node.json.example holds no secret', () => {
    const json = JSON.parse(readFileSync(repo('deploy/env/node.json.example'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(Object.keys(json)).not.toContain('enrollmentToken');
  });
});

/** Environment= lines only, specifiers replaced. */
function specifiedEnv(u: UnitFile, unitName: string): Record<string, string> {
  return Object.fromEntries(Object.entries(environment(u)).map(([k, v]) => [k, specifiers(v, unitName)]));
}
