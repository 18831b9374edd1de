/**
 * deploy/docker/Dockerfile and deploy/docker/haproxy.Dockerfile, checked without a Docker engine:
 * the stages exist and build what compose asks for; every file copied from the build context
 * exists and is not excluded by .dockerignore, which keeps out secrets and build output but nothing
 * git tracks; each runtime image receives the package.json, compiled dist/, production
 * node_modules and native addons of every workspace package its app needs at run time (derived
 * from the package manifests, so a new workspace dependency without a COPY fails here); the
 * controller runs unprivileged and finds its migrations; the node agent image has ip and nft.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  dockerIgnored,
  execForm,
  last,
  parseCopy,
  parseDockerfile,
  stageEnv,
  type Stage,
} from './lib/dockerfile.js';
import { exists, repo, ROOT } from './lib/paths.js';
import { MIGRATIONS_DIR } from '../../apps/controller/src/db/migrate.js';
import { WEB_DIST_DIR } from '../../apps/controller/src/dashboard/assets.js';

const dockerfile = parseDockerfile(readFileSync(repo('deploy/docker/Dockerfile'), 'utf8'));
const dockerignore = readFileSync(repo('.dockerignore'), 'utf8').split('\n');
const rootPackage = JSON.parse(readFileSync(repo('package.json'), 'utf8')) as {
  packageManager: string;
  engines: { node: string };
};

function stage(name: string): Stage {
  const s = dockerfile.stages.find((x) => x.name === name);
  if (s === undefined) throw new Error(`Dockerfile has no stage ${name}`);
  return s;
}

interface WorkspacePackage {
  name: string;
  dir: string;
  manifest: {
    dependencies?: Record<string, string>;
    bin?: Record<string, string>;
    gypfile?: boolean;
    scripts?: Record<string, string>;
  };
}

/** Workspace packages by name (the globs of pnpm-workspace.yaml: apps/*, packages/*). */
const workspace = new Map<string, WorkspacePackage>();
for (const parent of ['apps', 'packages'])
  for (const entry of readdirSync(repo(parent))) {
    const file = repo(parent, entry, 'package.json');
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as WorkspacePackage['manifest'] & {
      name: string;
    };
    workspace.set(manifest.name, { name: manifest.name, dir: `${parent}/${entry}`, manifest });
  }

/** The package and every workspace package it depends on at run time (dependencies, not dev). */
function runtimeClosure(name: string, seen = new Map<string, WorkspacePackage>()): WorkspacePackage[] {
  const pkg = workspace.get(name);
  if (pkg === undefined) throw new Error(`no workspace package ${name}`);
  if (seen.has(name)) return [...seen.values()];
  seen.set(name, pkg);
  for (const [dep, version] of Object.entries(pkg.manifest.dependencies ?? {}))
    if (version.startsWith('workspace:')) runtimeClosure(dep, seen);
  return [...seen.values()];
}

/** The compiled addons a package loads at run time (`build/Release/<name>.node` in its non-test sources). */
function nativeAddons(pkg: WorkspacePackage): string[] {
  if (!pkg.manifest.gypfile) return [];
  const found = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(repo(dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) {
        if (e.name !== 'testing') walk(rel);
      } else if (/\.ts$/.test(e.name) && !/\.test\.ts$/.test(e.name)) {
        for (const m of readFileSync(repo(rel), 'utf8').matchAll(/build\/Release\/([a-z0-9_]+)\.node/g))
          found.add(`${pkg.dir}/build/Release/${m[1]}.node`);
      }
    }
  };
  walk(`${pkg.dir}/src`);
  return [...found].sort();
}

/** `[from, source, dest]` of every COPY of a stage, destinations resolved against WORKDIR. */
function copies(s: Stage): { from: string | null; source: string; dest: string }[] {
  const out: { from: string | null; source: string; dest: string }[] = [];
  let workdir = '/';
  for (const ins of s.instructions) {
    if (ins.keyword === 'WORKDIR') workdir = path.posix.resolve(workdir, ins.args.trim());
    if (ins.keyword !== 'COPY' && ins.keyword !== 'ADD') continue;
    expect(ins.keyword, `line ${ins.line}: COPY, not ADD`).toBe('COPY');
    const c = parseCopy(ins);
    for (const source of c.sources)
      out.push({ from: c.from, source, dest: path.posix.resolve(workdir, c.dest) });
  }
  return out;
}

function workdirOf(s: Stage): string {
  return path.posix.resolve('/', last(s, 'WORKDIR')?.args.trim() ?? '/');
}

const trackedFiles = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
  .split('\0')
  .filter((f) => f !== '' && existsSync(repo(f)));

describe('Dockerfile: stages and build', () => {
  it('has the stages docker-compose.yml builds and the ones they need', () => {
    expect(dockerfile.stages.map((s) => s.name)).toEqual([
      'pnpm',
      'fetch',
      'build',
      'controller-deps',
      'node-agent-deps',
      'controller',
      'node-agent',
    ]);
    for (const s of dockerfile.stages) {
      const base = s.from;
      if (dockerfile.stages.some((x) => x.name === base)) continue;
      expect(base, `${s.name}: base image tag`).toMatch(/^[a-z0-9./-]+:[A-Za-z0-9._-]+$/);
    }
  });

  it('uses the pinned pnpm and a Node that satisfies engines.node, on one Debian release', () => {
    const pnpmArg = stage('pnpm').instructions.find(
      (i) => i.keyword === 'ARG' && i.args.startsWith('PNPM_VERSION='),
    );
    expect(pnpmArg?.args).toBe(`PNPM_VERSION=${rootPackage.packageManager.split('@')[1]}`);
    const wantMajor = Number(/\d+/.exec(rootPackage.engines.node)?.[0]);
    const images = [
      dockerfile.globalArgs.NODE_BUILD_IMAGE,
      dockerfile.globalArgs.NODE_RUNTIME_IMAGE,
    ] as string[];
    for (const image of images) {
      const m = /^node:(\d+)-(\w+)(?:-slim)?$/.exec(image);
      expect(m, image).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThanOrEqual(wantMajor);
    }
    // Native addons compiled in the build image must load in the runtime image: same Node major, same glibc.
    const [build, runtime] = images.map((i) => /^node:(\d+)-(\w+)/.exec(i)!.slice(1));
    expect(runtime).toEqual(build);
    expect(stage('pnpm').from).toBe(dockerfile.globalArgs.NODE_BUILD_IMAGE);
    expect(stage('controller').from).toBe(dockerfile.globalArgs.NODE_RUNTIME_IMAGE);
    expect(stage('node-agent').from).toBe(dockerfile.globalArgs.NODE_RUNTIME_IMAGE);
    // node-gyp builds against the image's own headers instead of downloading them.
    expect(stageEnv(stage('pnpm')).npm_config_nodedir).toBe('/usr/local');
  });

  it('installs from the lockfile only, and builds both apps with their workspace packages', () => {
    const runs = (s: Stage) =>
      s.instructions
        .filter((i) => i.keyword === 'RUN')
        .map((i) => i.args)
        .join('\n');
    expect(runs(stage('fetch'))).toContain('pnpm fetch --frozen-lockfile');
    expect(runs(stage('build'))).toContain('pnpm install --offline --frozen-lockfile');
    expect(runs(stage('build'))).toContain(
      "pnpm --filter '@corridor/controller...' --filter '@corridor/node-agent...' run build",
    );
    expect(runs(stage('controller-deps'))).toContain(
      "pnpm install --offline --frozen-lockfile --prod --filter '@corridor/controller...'",
    );
    expect(runs(stage('node-agent-deps'))).toContain(
      "pnpm install --offline --frozen-lockfile --prod --filter '@corridor/node-agent...'",
    );
    // The manifests tarball holds the same globs as pnpm-workspace.yaml.
    const globs = (parse(readFileSync(repo('pnpm-workspace.yaml'), 'utf8')) as { packages: string[] })
      .packages;
    for (const g of globs)
      expect(runs(stage('build')), g).toContain(g === 'test' ? 'test/package.json' : `${g}/package.json`);
  });

  it('gives every native package of the runtime closure what its install script compiles from', () => {
    const nodeDeps = copies(stage('node-agent-deps'))
      .filter((c) => c.from === null)
      .map((c) => c.source);
    for (const pkg of runtimeClosure('@corridor/node-agent').filter((p) => p.manifest.gypfile)) {
      expect(nodeDeps, pkg.name).toContain(`${pkg.dir}/binding.gyp`);
      const gyp = readFileSync(repo(pkg.dir, 'binding.gyp'), 'utf8');
      for (const m of gyp.matchAll(/"([a-z0-9_/]+\.c)"/g)) {
        const dir = path.posix.dirname(`${pkg.dir}/${m[1]}`);
        expect(nodeDeps, `${m[1]} of ${pkg.name}`).toContain(dir);
      }
    }
  });
});

describe('Dockerfile: build context', () => {
  it('copies only files that exist and that .dockerignore lets through', () => {
    const all = [...copies(stage('build')), ...dockerfile.stages.flatMap(copies)].filter(
      (c) => c.from === null,
    );
    expect(all.length).toBeGreaterThan(3);
    for (const c of all) {
      if (c.source === '.') continue;
      expect(exists(c.source), `${c.source} exists`).toBe(true);
      expect(dockerIgnored(dockerignore, c.source), `${c.source} is in the context`).toBe(false);
    }
  });

  it('holds every file git tracks (the build copies the whole repository) ...', () => {
    const excluded = trackedFiles.filter((f) => dockerIgnored(dockerignore, f));
    expect(excluded.filter((f) => f !== '.gitignore' && !f.startsWith('deploy/secrets/'))).toEqual([]);
  });

  it('... and none of the secrets, local state or build output', () => {
    for (const f of [
      '.env',
      'apps/controller/.env',
      '.data/demo/admin-password',
      'deploy/secrets/controller.pem.key',
      'deploy/env/controller.env',
      'some/dir/tls-key.pem',
      'node_modules/x/index.js',
      'apps/controller/node_modules/.bin/x',
      'apps/controller/dist/cli.js',
      'packages/tun/build/Release/corridor_tun.node',
      'apps/controller/src/generated/prisma/client.ts',
      '.git/config',
    ])
      expect(dockerIgnored(dockerignore, f), f).toBe(true);
    expect(dockerIgnored(dockerignore, 'apps/controller/.env.example')).toBe(false);
  });
});

describe.each([
  { target: 'controller', app: '@corridor/controller', deps: 'controller-deps' },
  { target: 'node-agent', app: '@corridor/node-agent', deps: 'node-agent-deps' },
])('Dockerfile: the $target image', ({ target, app, deps }) => {
  const s = stage(target);
  const workdir = workdirOf(s);
  const copied = copies(s);
  const has = (from: string | null, source: string, dest: string) =>
    copied.some((c) => c.from === from && c.source === source && c.dest === dest);
  const closure = runtimeClosure(app);

  it('keeps the workspace layout under WORKDIR', () => {
    expect(workdir).toBe('/app');
  });

  it('receives package.json, dist and production node_modules of every workspace package it runs', () => {
    expect(has(deps, '/app/node_modules', `${workdir}/node_modules`), 'root node_modules (.pnpm store)').toBe(
      true,
    );
    for (const pkg of closure) {
      expect(
        has('build', `/app/${pkg.dir}/package.json`, `${workdir}/${pkg.dir}/package.json`),
        pkg.dir,
      ).toBe(true);
      expect(has('build', `/app/${pkg.dir}/dist`, `${workdir}/${pkg.dir}/dist`), `${pkg.dir}/dist`).toBe(
        true,
      );
      expect(pkg.manifest.scripts?.build, `${pkg.name} is built by tsc`).toMatch(
        /tsc -p tsconfig.build.json/,
      );
      expect(
        has(deps, `/app/${pkg.dir}/node_modules`, `${workdir}/${pkg.dir}/node_modules`),
        `${pkg.dir}/node_modules`,
      ).toBe(true);
      for (const addon of nativeAddons(pkg))
        expect(has(deps, `/app/${addon}`, `${workdir}/${addon}`), addon).toBe(true);
    }
    // Nothing copied from the build that the app does not run.
    const dists = copied
      .filter((c) => c.source.endsWith('/dist') && !c.source.endsWith('/web/dist'))
      .map((c) => c.source);
    expect(dists.sort()).toEqual(closure.map((p) => `/app/${p.dir}/dist`).sort());
  });

  it('starts the package’s own bin from its compiled dist', () => {
    const entry = execForm(last(s, 'ENTRYPOINT')!.args)!;
    expect(entry[0]).toBe('node');
    const pkg = workspace.get(app)!;
    const bin = Object.values(pkg.manifest.bin ?? {})[0]!;
    expect(entry[1]).toBe(`${workdir}/${pkg.dir}/${bin}`);
    const source = `${pkg.dir}/${bin.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts')}`;
    expect(exists(source), source).toBe(true);
    expect(execForm(last(s, 'CMD')!.args)).toEqual([target === 'controller' ? 'serve' : 'run']);
  });

  it('has a healthcheck in exec form', () => {
    const hc = last(s, 'HEALTHCHECK')!.args;
    const cmd = execForm(hc.replace(/^.*?\bCMD\s+/, ''))!;
    expect(cmd[0]).toBe('node');
    const script = cmd[1]!;
    const fromContext = copied.find((c) => c.dest === script && c.from === null);
    const fromDist = script.startsWith(`${workdir}/`) && copied.some((c) => script.startsWith(`${c.dest}/`));
    expect(Boolean(fromContext) || fromDist, `${script} is in the image`).toBe(true);
  });
});

describe('Dockerfile: privileges and runtime needs', () => {
  it('runs the controller as an unprivileged user owning only its data dir', () => {
    const s = stage('controller');
    const user = last(s, 'USER')!.args.trim();
    expect(user).toMatch(/^[a-z][a-z0-9-]*:[a-z][a-z0-9-]*$/);
    expect(user.split(':')[0]).not.toBe('root');
    const setup = s.instructions.find((i) => i.keyword === 'RUN')!.args;
    expect(setup).toMatch(/useradd --system --uid 10001/);
    const env = stageEnv(s);
    expect(env.NODE_ENV).toBe('production');
    expect(setup).toContain(`install -d -m 0700 -o corridor -g corridor ${env.CORRIDOR_DATA_DIR}`);
  });

  it('gives the controller its migrations and dashboard bundle where the compiled code looks for them', () => {
    // Both directories are computed from the code's own location, the same depth in src/ and dist/.
    const s = stage('controller');
    const migrations = path.relative(ROOT, MIGRATIONS_DIR);
    expect(migrations).toBe('prisma/migrations');
    expect(copies(s)).toContainEqual({
      from: null,
      source: migrations,
      dest: `${workdirOf(s)}/${migrations}`,
    });
    // The dashboard bundle is build output (web/build.mjs, run by the package's build script).
    const web = path.relative(ROOT, WEB_DIST_DIR);
    expect(web).toBe('apps/controller/web/dist');
    expect(workspace.get('@corridor/controller')!.manifest.scripts?.build).toContain('build:web');
    expect(copies(s)).toContainEqual({
      from: 'build',
      source: `/app/${web}`,
      dest: `${workdirOf(s)}/${web}`,
    });
  });

  it('gives the node agent ip and nft (its kernel setup runs both) and a 0700 data dir', () => {
    const s = stage('node-agent');
    const run = s.instructions
      .filter((i) => i.keyword === 'RUN')
      .map((i) => i.args)
      .join('\n');
    expect(run).toMatch(/apt-get install -y --no-install-recommends [^\n]*\biproute2\b/);
    expect(run).toMatch(/apt-get install -y --no-install-recommends [^\n]*\bnftables\b/);
    expect(run).toContain(`install -d -m 0700 ${stageEnv(s).CORRIDOR_DATA_DIR}`);
    // Root inside the container: docker-compose.yml drops every capability but NET_ADMIN.
    expect(last(s, 'USER')).toBeUndefined();
    const exposed = last(s, 'EXPOSE')!.args.split(/\s+/);
    expect(exposed.sort()).toEqual(['443/tcp', '51820/udp']);
  });

  it('builds HAProxy from Debian 12 with curl for its healthcheck, as an unprivileged uid', () => {
    const haproxy = parseDockerfile(readFileSync(repo('deploy/docker/haproxy.Dockerfile'), 'utf8'));
    const s = haproxy.stages[0]!;
    expect(haproxy.stages).toHaveLength(1);
    expect(s.from).toBe('debian:bookworm-slim');
    expect(s.instructions.find((i) => i.keyword === 'RUN')!.args).toMatch(
      /install -y --no-install-recommends haproxy curl/,
    );
    expect(last(s, 'USER')!.args).toBe('10001:10001');
    expect(execForm(last(s, 'CMD')!.args)).toEqual([
      'haproxy',
      '-W',
      '-db',
      '-f',
      '/etc/haproxy/haproxy.cfg',
    ]);
  });
});
