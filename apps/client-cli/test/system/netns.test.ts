/**
 * The system side of a connection in real network namespaces (root): routes (full tunnel with the
 * node pinned to the original gateway, IPv6 blocked or tunnelled, split), the kill switch, DNS in
 * the namespace's own resolv.conf, following a gateway change, and restoring all of it — on a clean
 * exit and, after kill -9, by the next `vpnctl disconnect` from the journal.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_DIR, TSX, VPNCTL_ARGV } from '../helpers/cli.js';
import { createLab, inNs, kernelSkipReason, snapshot, type Lab } from '../helpers/netns.js';

const skip = kernelSkipReason();
if (skip) console.warn(`skipping netns tests: ${skip}`);

const FIXTURE = path.join(CLI_DIR, 'test/fixtures/system-scenario.ts');

interface Running {
  ready: Record<string, unknown>;
  send(line: string): void;
  next(prefix: string): Promise<Record<string, unknown>>;
  kill(): Promise<void>;
  stderr(): string;
}

function runScenario(lab: Lab, stateDir: string, scenario: Record<string, unknown>): Promise<Running> {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      lab.client,
      process.execPath,
      '--import',
      TSX,
      '--conditions=source',
      FIXTURE,
      JSON.stringify(scenario),
    ],
    {
      env: {
        PATH: process.env.PATH ?? '',
        CORRIDOR_STATE_DIR: stateDir,
        CORRIDOR_RUNTIME_DIR: stateDir,
        CORRIDOR_CONFIG_DIR: stateDir,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const lines = createInterface({ input: child.stdout });
  const waiting: {
    prefix: string;
    resolve: (v: Record<string, unknown>) => void;
    reject: (e: Error) => void;
  }[] = [];
  lines.on('line', (l) => {
    const w = waiting.find((x) => l.startsWith(`${x.prefix} `));
    if (w) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(JSON.parse(l.slice(w.prefix.length + 1)));
    }
  });
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`fixture exited ${code}: ${err}`));
  });
  const next = (prefix: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      waiting.push({ prefix, resolve, reject });
      setTimeout(() => reject(new Error(`timed out waiting for ${prefix}: ${err}`)), 30_000).unref();
    });
  return next('READY').then((ready) => ({
    ready,
    send: (line: string) => child.stdin.write(`${line}\n`),
    next,
    stderr: () => err,
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  }));
}

async function routeGet(ns: string, addr: string): Promise<string> {
  return (await inNs(ns, 'ip', ['route', 'get', addr]).catch((e: Error) => e.message)).trim();
}

async function pingable(ns: string, addr: string): Promise<boolean> {
  return inNs(ns, 'ping', ['-c', '1', '-W', '1', addr]).then(
    () => true,
    () => false,
  );
}

describe.skipIf(skip !== undefined)('system side of a connection in network namespaces', () => {
  let lab: Lab | undefined;
  let state: string | undefined;
  afterEach(async () => {
    await lab?.destroy();
    lab = undefined;
    if (state) rmSync(state, { recursive: true, force: true });
    state = undefined;
  });
  const setup = async () => {
    lab = await createLab();
    state = mkdtempSync(path.join(os.tmpdir(), 'vpnctl-state-'));
    return { lab, state };
  };

  it('full tunnel: everything into the TUN but the node (pinned to the gateway), IPv6 blocked; undo restores all', async () => {
    const { lab, state } = await setup();
    const before = await snapshot(lab.client);
    const resolvBefore = readFileSync(lab.resolvConf, 'utf8');
    expect(await routeGet(lab.client, '2001:db8::80')).toContain(`dev ${lab.clientIf}`); // IPv6 works before
    const run = await runScenario(lab, state, {
      endpoint: lab.farAddr,
      dns: { path: lab.resolvConf, servers: ['10.8.0.1'] },
    });
    const tun = run.ready.tun as string;
    expect(run.ready.routes).toEqual(['0.0.0.0/1', '128.0.0.0/1']);
    expect(run.ready.blockedIPv6).toBe(true);
    expect(await routeGet(lab.client, '198.51.100.80')).toContain(`dev ${tun}`);
    expect(await routeGet(lab.client, lab.farAddr)).toContain(`via ${lab.gatewayAddr} dev ${lab.clientIf}`);
    expect(await routeGet(lab.client, '2001:db8::80')).toMatch(/No route to host/); // the leak is blocked
    // Inside the namespace, /etc/resolv.conf IS its own file (bind mount): DNS changed only there.
    expect(await inNs(lab.client, 'cat', ['/etc/resolv.conf'])).toContain('nameserver 10.8.0.1');
    expect(existsSync(path.join(state, 'journal.json'))).toBe(true);

    run.send('undo');
    await run.next('DONE');
    expect(await snapshot(lab.client)).toEqual(before);
    expect(readFileSync(lab.resolvConf, 'utf8')).toBe(resolvBefore);
    expect(existsSync(path.join(state, 'journal.json'))).toBe(false);
  });

  it('IPv6 through the tunnel when the node gives an IPv6 address', async () => {
    const { lab, state } = await setup();
    const run = await runScenario(lab, state, { endpoint: lab.farAddr, tunnelIPv6: true });
    const tun = run.ready.tun as string;
    expect(run.ready.routes).toEqual(['0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1']);
    expect(await routeGet(lab.client, '2001:db8::80')).toContain(`dev ${tun}`);
    run.send('undo');
    await run.next('DONE');
  });

  it('split tunnel: only the given prefixes and the DNS server go into the TUN', async () => {
    const { lab, state } = await setup();
    const before = await snapshot(lab.client);
    const run = await runScenario(lab, state, {
      endpoint: lab.farAddr,
      mode: 'split',
      split: ['198.51.100.0/24'],
      dns: { path: lab.resolvConf, servers: ['10.9.0.53'] },
    });
    const tun = run.ready.tun as string;
    expect(run.ready.routes).toEqual(['198.51.100.0/24', '10.9.0.53/32']);
    expect(await routeGet(lab.client, '198.51.100.80')).toContain(`dev ${tun}`);
    expect(await routeGet(lab.client, '10.9.0.53')).toContain(`dev ${tun}`);
    expect(await routeGet(lab.client, '203.0.113.9')).toContain(`via ${lab.gatewayAddr}`);
    expect(await routeGet(lab.client, '2001:db8::80')).not.toMatch(/unreachable/);
    run.send('undo');
    await run.next('DONE');
    expect(await snapshot(lab.client)).toEqual(before);
  });

  it('kill switch: blocks everything but the node ports while up; removed whole on undo', async () => {
    const { lab, state } = await setup();
    expect(await pingable(lab.client, lab.gatewayAddr)).toBe(true);
    const before = await snapshot(lab.client);
    const run = await runScenario(lab, state, {
      endpoint: lab.farAddr,
      routes: false,
      killSwitch: { allow: [{ address: lab.farAddr, protocol: 'udp', port: 51820 }] },
    });
    expect(await pingable(lab.client, lab.gatewayAddr)).toBe(false);
    const table = await inNs(lab.client, 'nft', ['list', 'table', 'inet', 'corridor_vpnctl']);
    expect(table).toContain(`ip daddr ${lab.farAddr} udp dport 51820 accept`);
    expect(table).toContain('policy drop');
    run.send('undo');
    await run.next('DONE');
    expect(await pingable(lab.client, lab.gatewayAddr)).toBe(true);
    expect(await snapshot(lab.client)).toEqual(before);
  });

  it("a second connection (another user's state dir) cannot replace or remove the running one's kill switch", async () => {
    const { lab, state } = await setup();
    const other = mkdtempSync(path.join(os.tmpdir(), 'vpnctl-state-'));
    try {
      const first = await runScenario(lab, state, {
        endpoint: lab.farAddr,
        routes: false,
        killSwitch: { allow: [{ address: lab.farAddr, protocol: 'udp', port: 51820 }] },
      });
      const tableBefore = await inNs(lab.client, 'nft', ['list', 'table', 'inet', 'corridor_vpnctl']);
      // `sudo vpnctl connect --kill-switch` running, then `sudo -E vpnctl connect --kill-switch`:
      // separate state dirs, so separate connection locks; the firewall table is the same.
      await expect(
        runScenario(lab, other, {
          endpoint: lab.farAddr,
          routes: false,
          killSwitch: { allow: [{ address: lab.farAddr, protocol: 'tcp', port: 443 }] },
        }),
      ).rejects.toThrow(/kill switch of another vpnctl connection is in place/);
      expect(await inNs(lab.client, 'nft', ['list', 'table', 'inet', 'corridor_vpnctl'])).toBe(tableBefore);
      expect(await pingable(lab.client, lab.gatewayAddr)).toBe(false); // still holding
      first.send('undo');
      await first.next('DONE');
      expect(await pingable(lab.client, lab.gatewayAddr)).toBe(true);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('follows a gateway change: the node route is re-pinned through the new gateway', async () => {
    const { lab, state } = await setup();
    const run = await runScenario(lab, state, { endpoint: lab.farAddr });
    const newGw = lab.gatewayAddr.replace(/\.1$/, '.254');
    await inNs(lab.gateway, 'ip', ['addr', 'add', `${newGw}/24`, 'dev', `vg${lab.id}`]);
    await inNs(lab.client, 'ip', ['route', 'replace', 'default', 'via', newGw]);
    run.send('repin');
    const r = await run.next('REPINNED');
    expect(r).toEqual({ changed: true, pin: `${newGw} dev ${lab.clientIf}` });
    expect(await routeGet(lab.client, lab.farAddr)).toContain(`via ${newGw}`);
    run.send('repin');
    expect((await run.next('REPINNED')).changed).toBe(false);
    run.send('undo');
    await run.next('DONE');
    expect(await routeGet(lab.client, lab.farAddr)).toContain(`via ${newGw}`); // the user's own default route
    expect(await inNs(lab.client, 'ip', ['route', 'show', `${lab.farAddr}/32`])).toBe('');
  });

  it('kill -9 leaves the journal; the next `vpnctl disconnect` restores routes, DNS and firewall', async () => {
    const { lab, state } = await setup();
    const before = await snapshot(lab.client);
    const resolvBefore = readFileSync(lab.resolvConf, 'utf8');
    const run = await runScenario(lab, state, {
      endpoint: lab.farAddr,
      dns: { path: '/etc/resolv.conf', servers: ['10.8.0.1'] },
      killSwitch: { allow: [{ address: lab.farAddr, protocol: 'udp', port: 51820 }] },
    });
    await run.kill();
    // The TUN and its routes died with the process; the rest is still there.
    expect(readFileSync(lab.resolvConf, 'utf8')).toContain('nameserver 10.8.0.1');
    expect(await inNs(lab.client, 'nft', ['list', 'tables'])).toContain('corridor_vpnctl');
    expect(await inNs(lab.client, 'ip', ['route', 'show', `${lab.farAddr}/32`])).not.toBe('');

    const env = {
      PATH: process.env.PATH ?? '',
      CORRIDOR_STATE_DIR: state,
      CORRIDOR_RUNTIME_DIR: state,
      CORRIDOR_CONFIG_DIR: state,
    };
    const status = await new Promise<string>((resolve) => {
      const c = spawn('ip', ['netns', 'exec', lab.client, ...VPNCTL_ARGV, 'status', '--json'], { env });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('close', () => resolve(out));
    });
    expect(JSON.parse(status)).toEqual({ state: 'disconnected', staleJournal: true });
    const out = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn('ip', ['netns', 'exec', lab.client, ...VPNCTL_ARGV, 'disconnect'], { env });
      let err = '';
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('close', (code) => resolve({ code, err }));
    });
    expect(out.code, out.err).toBe(0);
    expect(out.err).toContain(
      'Restored the routes, DNS and firewall left by a connection that ended unexpectedly',
    );
    expect(await snapshot(lab.client)).toEqual(before);
    expect(readFileSync(lab.resolvConf, 'utf8')).toBe(resolvBefore);
    expect(existsSync(path.join(state, 'journal.json'))).toBe(false);
  });
});
