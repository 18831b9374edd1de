/**
 * The README's quick-start main job, run as a user runs it (`pnpm demo`, scripts/demo.ts) with the
 * built binaries (apps/<app>/dist; scripts/test.sh builds first):
 *   - as root, `pnpm demo --once`: the lab, the controller on embedded defaults, two enrolled nodes,
 *     the demo user, the real vpnctl; the report's facts are checked against the lab's addresses,
 *     the credential files are 0600 and never printed, and the machine is as before afterwards;
 *   - as root, Ctrl-C in the middle of the setup: everything it made is removed all the same;
 *   - without root (as `nobody`, or as the user running the tests): it says so and runs the parts that
 *     need none.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { diffSnapshots, labSkipReason, snapshotRoot } from './lab/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsxCli = path.join(root, 'node_modules/tsx/dist/cli.mjs');
const bins = ['apps/controller/dist/cli.js', 'apps/node-agent/dist/main.js', 'apps/client-cli/dist/index.js'];
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function demoDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'corridor-demo-'));
  dirs.push(d);
  return path.join(d, 'demo');
}

function requireBuild(): void {
  for (const b of bins)
    if (!existsSync(path.join(root, b)))
      throw new Error(`${b} is missing: run 'pnpm build' first (scripts/test.sh does)`);
}

interface Run {
  code: number | null;
  out: string;
}

/** Runs the demo; `onOutput` sees the output so far and may return a signal to send. */
function runDemo(
  argv: string[],
  env: NodeJS.ProcessEnv,
  onOutput?: (out: string) => NodeJS.Signals | undefined,
  timeoutMs = 400_000,
): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(argv[0]!, argv.slice(1), { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let signalled = false;
    const timer = setTimeout(() => p.kill('SIGINT'), timeoutMs);
    const seen = (c: Buffer) => {
      out += c.toString();
      const sig = signalled ? undefined : onOutput?.(out);
      if (sig) {
        signalled = true;
        p.kill(sig);
      }
    };
    p.stdout.on('data', seen);
    p.stderr.on('data', seen);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** Processes whose working directory is inside `dir` (the demo runs its controller there). */
function processesIn(dir: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (readlinkSync(`/proc/${pid}/cwd`).startsWith(dir)) out.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

const namespacesOf = (runId: string) =>
  spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.startsWith(`crl-${runId}-`));

const labSkip = labSkipReason();
if (labSkip) console.warn(`[demo] skipping the root runs: ${labSkip}`);

describe('pnpm demo', () => {
  it.skipIf(labSkip !== undefined)(
    'as root, --once: real controller, two nodes and vpnctl in the lab; the report states what happened; nothing is left behind',
    async () => {
      requireBuild();
      const dir = demoDir();
      const before = await snapshotRoot();
      const run = await runDemo(['pnpm', '-s', 'demo', '--once'], { ...process.env, CORRIDOR_DEMO_DIR: dir });
      const out = run.out;
      expect(run.code, out).toBe(0);

      const report = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')) as {
        client: { address: string };
        direct: { egress: string };
        eu: {
          node: string;
          nodeAddress: string;
          nodeAddress6: string;
          transport: string;
          handshakeMs: number;
          egress: string;
          egress6: string;
          dnsViaTunnel: boolean;
          latencyMs: number;
          download: { bytes: number; bytesPerSecond: number };
        };
        us: { node: string; nodeAddress: string; egress: string };
        regionLocked: { direct: number; viaEu: number; viaUs: number };
        adminUrl: string;
      };
      // The web host saw the client's own address directly, and the node's through the tunnel.
      expect(report.direct.egress).toBe(report.client.address);
      expect(report.eu).toMatchObject({ node: 'eu-1', transport: 'udp', dnsViaTunnel: true });
      expect(report.eu.egress).toBe(report.eu.nodeAddress);
      expect(report.eu.egress).not.toBe(report.client.address);
      expect(report.eu.egress6).toBe(report.eu.nodeAddress6);
      expect(report.us.node).toBe('us-1');
      expect(report.us.egress).toBe(report.us.nodeAddress);
      expect(report.regionLocked).toMatchObject({ direct: 403, viaEu: 200, viaUs: 403 });
      expect(report.eu.handshakeMs).toBeGreaterThan(0);
      expect(report.eu.latencyMs).toBeGreaterThan(0);
      expect(report.eu.download.bytesPerSecond).toBeGreaterThan(0);
      // ... and the plain-words report says the same.
      expect(out).toContain(`the web host saw client1's own address: ${report.client.address}.`);
      expect(out).toContain(
        `Through eu-1 (eu) the web host sees ${report.eu.nodeAddress}, the node's address`,
      );
      expect(out).toContain('Transport: UDP');
      expect(out).toMatch(/Handshake time: [\d.]+ ms/);
      expect(out).toMatch(/Latency to the web host: [\d.]+ ms through the tunnel/);
      expect(out).toMatch(/Throughput of a 16 MiB download: \d+ Mbit\/s through the tunnel/);
      expect(out).toContain(
        'Region-locked site geo-eu.lab (eu only): 403 without the VPN, 200 through eu-1, 403 through us-1.',
      );
      expect(out).toMatch(/Admin dashboard: https:\/\/127\.0\.0\.1:\d+\/admin/);
      expect(out).toContain('Stopped; everything the demo made is removed.');

      // Credentials: files only their owner reads; the passwords never in the output.
      for (const f of ['admin-password', 'demo-password']) {
        const file = path.join(dir, f);
        expect(statSync(file).mode & 0o777, f).toBe(0o600);
        expect(out).toContain(`password in ${file} (mode 0600)`);
        const secret = readFileSync(file, 'utf8').trim();
        expect(secret.length).toBeGreaterThanOrEqual(16);
        expect(out).not.toContain(secret);
      }
      expect(statSync(path.join(dir, 'controller', 'tls-key.pem')).mode & 0o077).toBe(0);

      const runId = /lab (\w+) up in/.exec(out)?.[1];
      expect(runId).toBeDefined();
      expect(namespacesOf(runId!)).toEqual([]);
      expect(processesIn(dir)).toEqual([]);
      expect(diffSnapshots(before, await snapshotRoot())).toBe('');
    },
    420_000,
  );

  it.skipIf(labSkip !== undefined)(
    'as root, Ctrl-C during the setup: stops and removes everything it made',
    async () => {
      requireBuild();
      const dir = demoDir();
      const before = await snapshotRoot();
      const run = await runDemo(
        [process.execPath, tsxCli, 'scripts/demo.ts'],
        { ...process.env, CORRIDOR_DEMO_DIR: dir },
        (out) => (out.includes("forwarded to this machine's loopback") ? 'SIGINT' : undefined),
      );
      expect(run.out).toContain('Ctrl-C: stopping Corridor and removing everything the demo made...');
      expect(run.out).toContain('Stopped; everything the demo made is removed.');
      expect(run.code, run.out).toBe(130);
      const runId = /lab (\w+) up in/.exec(run.out)?.[1];
      expect(runId).toBeDefined();
      expect(namespacesOf(runId!)).toEqual([]);
      expect(processesIn(dir)).toEqual([]);
      expect(diffSnapshots(before, await snapshotRoot())).toBe('');
    },
    300_000,
  );

  // Without root: as `nobody` when the tests run as root (when nobody can read the checkout), or
  // simply as the user running the tests.
  const isRoot = process.getuid?.() === 0;
  const nobodyReads =
    isRoot &&
    spawnSync('setpriv', [
      '--reuid=nobody',
      '--regid=nogroup',
      '--clear-groups',
      'test',
      '-r',
      path.join(root, bins[0]!),
    ]).status === 0;
  const rootlessSkip =
    isRoot && !nobodyReads ? 'running as root and user nobody cannot read this checkout' : undefined;
  if (rootlessSkip) console.warn(`[demo] skipping the rootless run: ${rootlessSkip}`);
  it.skipIf(rootlessSkip !== undefined)(
    'without root: says so and runs the controller, the demo user, vpnctl login and nodes on loopback',
    async () => {
      requireBuild();
      const dir = demoDir();
      if (isRoot) chownSync(path.dirname(dir), 65534, 65534);
      const prefix = isRoot ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] : [];
      const run = await runDemo([...prefix, process.execPath, tsxCli, 'scripts/demo.ts', '--once'], {
        ...process.env,
        HOME: path.dirname(dir),
        CORRIDOR_DEMO_DIR: dir,
      });
      const out = run.out;
      expect(run.code, out).toBe(0);
      expect(out).toContain('The lab cannot run here: not root');
      expect(out).toContain('Running the parts that need no root.');
      expect(out).toMatch(/Logged in to https:\/\/127\.0\.0\.1:\d+ as demo@corridor\.lab\./);
      expect(out).toMatch(/eu-1 +eu +Frankfurt, DE +offline/);
      expect(out).toMatch(/Admin dashboard: https:\/\/127\.0\.0\.1:\d+\/admin/);
      expect(out).toContain('needs root: sudo pnpm demo');
      for (const f of ['admin-password', 'demo-password']) {
        const file = path.join(dir, f);
        expect(statSync(file).mode & 0o777).toBe(0o600);
        expect(out).not.toContain(readFileSync(file, 'utf8').trim());
      }
      expect(processesIn(dir)).toEqual([]);
    },
    300_000,
  );
});
