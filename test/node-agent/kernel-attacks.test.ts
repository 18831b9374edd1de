/**
 * Attacks on the node agent's kernel side, in the netns lab (test/lab), without a controller: the
 * agent starts from a data directory the test prepared (node key, credential, the signing key the
 * test signs tickets with), so it admits offline while the controller host answers nothing.
 *
 *   - a host on the node's egress link (here the lab's backbone router, given a route to the client
 *     subnets) must not reach clients through the node: only replies to the clients' own flows and
 *     NATed traffic pass, as behind any NAT;
 *   - clients must not reach the node's own services through the tunnel (the gateway addresses);
 *   - a node whose IPv6 uplink comes from router advertisements must keep taking them once it
 *     forwards (accept_ra 1 -> 2 on the egress interface, restored at SIGTERM);
 *   - a second agent started on the same data directory must not tear down the running agent's
 *     nftables table and sysctls (its crash recovery reads the same kernel-state.json).
 *
 * Root only (skipped with the reason printed elsewhere); the lab removes every namespace and process
 * in afterAll, also on failure.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  formatPublicKey,
  generateEd25519KeyPair,
  generateX25519KeyPair,
  signTicket,
  type X25519KeyPair,
} from '@corridor/protocol';
import { createLab, labSkipReason, type Lab, type LabHost, type LabProcess } from '../lab/index.js';
import { ClientHost, ROOT, tsxArgv } from './fixtures/client-rpc.js';

const skip = labSkipReason() ?? (existsSync('/dev/net/tun') ? undefined : '/dev/net/tun is missing');
if (skip) console.warn(`[node-agent kernel attacks] skipping: ${skip}`);

const AGENT = path.join(ROOT, 'apps/node-agent/src/main.ts');
const NODE_ID = 'lab-k';
const SUBNET6 = 'fd42:9::/64';

describe.skipIf(skip !== undefined)('corridor-node kernel side under attack', { timeout: 180_000 }, () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'corridor-node-kernel-'));
  const dataDir = path.join(tmp, 'node');
  const signer = generateEd25519KeyPair();
  const nodeKeys = generateX25519KeyPair();
  let lab: Lab;
  let node: LabHost;
  let web: LabHost;
  let host: ClientHost;
  let agent: LabProcess | null = null;

  const agentArgs = (extra: string[] = []): string[] =>
    tsxArgv(AGENT, [
      'run',
      '--controller-url',
      `https://${lab.host('controller').v4}:8443`,
      '--node-id',
      NODE_ID,
      '--data-dir',
      dataDir,
      '--udp-listen',
      `${node.v4}:51820`,
      '--tcp-listen',
      'off',
      '--egress-interface',
      node.iface,
      '--metrics-listen',
      'off',
      '--client-subnet6',
      SUBNET6,
      ...extra,
    ]);

  const ticketFor = (keys: X25519KeyPair): string => {
    const now = Math.floor(Date.now() / 1000);
    return signTicket(
      {
        ticketId: randomUUID(),
        userId: randomUUID(),
        deviceId: randomUUID(),
        nodeId: NODE_ID,
        clientPublicKey: keys.publicKey,
        issuedAt: now - 5,
        expiresAt: now + 3600,
        limits: { bandwidthBytesPerSec: 0, dataQuotaBytes: 0 },
      },
      { keyId: 1, privateKey: signer.privateKey },
    ).toString('base64url');
  };

  const tables = async (): Promise<string[]> =>
    (await node.run(['nft', 'list', 'tables']))
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);

  beforeAll(async () => {
    lab = await createLab({
      label: 'node-agent-kernel.test',
      hosts: [
        { name: 'resolver', role: 'resolver' },
        { name: 'controller', role: 'controller' },
        { name: 'node-eu', role: 'node', region: 'eu' },
        { name: 'client1', role: 'client' },
        { name: 'web', role: 'web-echo' },
      ],
    });
    node = lab.node('eu');
    web = lab.host('web');
    // The agent's data directory as enrollment would have left it, with the test's signing key cached.
    const dir = path.join(dataDir);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const write = (name: string, value: unknown) =>
      writeFileSync(path.join(dir, name), JSON.stringify(value), { mode: 0o600 });
    write('node-key.json', { privateKey: nodeKeys.privateKey.toString('base64url') });
    write('credential.json', { nodeId: NODE_ID, credential: 'not-used-controller-is-down' });
    write('signing-keys.json', {
      version: 1,
      keys: [
        {
          keyId: 1,
          publicKey: formatPublicKey('ed25519pub', signer.publicKey),
          notBefore: new Date(Date.now() - 3600_000).toISOString(),
          notAfter: new Date(Date.now() + 86_400_000).toISOString(),
        },
      ],
    });
    agent = node.spawn(agentArgs(), { name: 'agent', cwd: ROOT });
    await agent.waitFor(/"node agent running"/, { timeoutMs: 60_000 });
    host = new ClientHost(lab.host('client1'), {
      LAB_CONTROLLER_URL: 'https://127.0.0.1:1',
      LAB_CONTROLLER_CA: '',
    });
    await host.ready();
  });

  afterAll(async () => {
    await agent?.stop({ graceMs: 10_000 });
    await lab?.down();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a host on the egress link cannot reach clients through the node; the clients’ own flows still work', async () => {
    const keys = generateX25519KeyPair();
    const c = await host.call<{ ok: boolean; params?: Record<string, string>; error?: string }>('connect', {
      conn: 'k1',
      ticket: ticketFor(keys),
      privateKey: keys.privateKey.toString('base64url'),
      nodeKey: formatPublicKey('x25519pub', nodeKeys.publicKey),
      host: node.v4,
      port: 51820,
      tun: true,
      routes: [`${web.v4}/32`, `${web.v6}/128`],
    });
    expect(c.ok, c.error).toBe(true);
    const v4 = c.params!.clientIPv4 as string;
    const v6 = c.params!.clientIPv6 as string;
    // Sanity: the client reaches the web host through the node (which masquerades).
    const f = await host.call<{ ok: boolean; body?: string }>('fetch', { url: `http://${web.v4}/` }, 20_000);
    expect(f.ok).toBe(true);
    expect(f.body?.trim()).toBe(node.v4);

    // The node's neighbour routes the client subnets to the node and probes the clients.
    await lab.routerExec(['ip', 'route', 'add', '10.8.0.0/24', 'via', node.v4]);
    await lab.routerExec(['ip', '-6', 'route', 'add', SUBNET6, 'via', node.v6]);
    expect(await web.ping(v4, { timeoutMs: 2000 })).toBe(false);
    expect(await web.ping(v6, { family: 6, timeoutMs: 2000 })).toBe(false);
    // The client's own flows are unaffected.
    const again = await host.call<{ ok: boolean; body?: string }>(
      'fetch',
      { url: `http://${web.v4}/` },
      20_000,
    );
    expect(again.ok).toBe(true);
    await host.call('disconnect', { conn: 'k1' });
  });

  it('clients cannot reach the node’s own services through the tunnel (gateway addresses); ping still answers', async () => {
    // A service on the node listening on every address (ssh, a database, a co-located controller...).
    const service = node.spawn(
      [
        process.execPath,
        '-e',
        "require('http').createServer((q, s) => s.end('node-local')).listen(7777, '::', () => console.log('listening'))",
      ],
      { name: 'service' },
    );
    try {
      await service.waitFor('listening', { timeoutMs: 10_000 });
      const keys = generateX25519KeyPair();
      const c = await host.call<{ ok: boolean; params?: Record<string, string>; error?: string }>('connect', {
        conn: 'k2',
        ticket: ticketFor(keys),
        privateKey: keys.privateKey.toString('base64url'),
        nodeKey: formatPublicKey('x25519pub', nodeKeys.publicKey),
        host: node.v4,
        port: 51820,
        tun: true,
        routes: ['10.8.0.1/32', 'fd42:9::1/128', `${web.v4}/32`],
      });
      expect(c.ok, c.error).toBe(true);
      // The tunnel works (the web host through the node)...
      const f = await host.call<{ ok: boolean }>('fetch', { url: `http://${web.v4}/` }, 20_000);
      expect(f.ok).toBe(true);
      // ...but the node's own service on its tunnel addresses does not answer.
      for (const url of ['http://10.8.0.1:7777/', 'http://[fd42:9::1]:7777/']) {
        const r = await host.call<{ ok: boolean; body?: string; error?: string }>(
          'fetch',
          { url, timeoutMs: 2000 },
          20_000,
        );
        expect(r.ok, `${url}: ${r.body ?? r.error}`).toBe(false);
      }
      expect(await lab.host('client1').ping('10.8.0.1', { timeoutMs: 2000 })).toBe(true);
      await host.call('disconnect', { conn: 'k2' });
    } finally {
      await service.stop({ graceMs: 2000 });
    }
  });

  it('a node whose IPv6 uplink comes from router advertisements keeps taking them while it forwards', async () => {
    // SLAAC uplink (most clouds): accept_ra 1 means "only while not forwarding".
    await agent?.stop({ graceMs: 10_000 });
    await node.run(['sysctl', '-qw', `net.ipv6.conf.${node.iface}.accept_ra=1`]);
    agent = node.spawn(agentArgs(), { name: 'agent', cwd: ROOT });
    await agent.waitFor(/"node agent running"/, { timeoutMs: 60_000 });
    expect((await node.run(['cat', '/proc/sys/net/ipv6/conf/all/forwarding'])).trim()).toBe('1');
    // The upstream router (the lab's backbone) advertises itself as a default router.
    const ra = [
      'import socket, struct, sys',
      's = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)',
      's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)',
      'i = socket.if_nametoindex(sys.argv[1])',
      's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, i)',
      "s.sendto(struct.pack('!BBHBBHII', 134, 0, 0, 64, 0, 600, 0, 0), ('ff02::1', 0, 0, i))",
    ].join('\n');
    const learned = async () =>
      (await node.run(['ip', '-6', 'route', 'show', 'default', 'proto', 'ra'])).trim();
    for (let i = 0; i < 3 && (await learned()) === ''; i++) {
      await lab.routerExec(['python3', '-c', ra, node.routerIface]);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(await learned()).toMatch(/^default via fe80:/);
    // SIGTERM puts the interface's setting back.
    await agent.stop({ graceMs: 10_000 });
    expect((await node.run(['cat', `/proc/sys/net/ipv6/conf/${node.iface}/accept_ra`])).trim()).toBe('1');
    agent = node.spawn(agentArgs(), { name: 'agent', cwd: ROOT });
    await agent.waitFor(/"node agent running"/, { timeoutMs: 60_000 });
  });

  it('a second agent on the same data directory is refused and leaves the running one’s kernel setup alone', async () => {
    expect(await tables()).toContain('table inet corridor_corridor0');
    const second = node.spawn(agentArgs(['--tun-name', 'corridor1', '--udp-listen', `${node.v4}:51821`]), {
      name: 'agent2',
      cwd: ROOT,
    });
    const exit = await Promise.race([
      second.exited,
      second.waitFor(/"node agent running"/, { timeoutMs: 60_000 }).then(() => null),
    ]);
    if (exit === null) await second.stop({ graceMs: 10_000 });
    expect(exit?.code).toBe(1);
    expect(
      second
        .lines()
        .map((l) => l.text)
        .join('\n'),
    ).toMatch(/already running/);
    expect(await tables()).toContain('table inet corridor_corridor0');
    expect((await node.run(['cat', '/proc/sys/net/ipv4/ip_forward'])).trim()).toBe('1');
    const status = JSON.parse(
      await node.run(tsxArgv(AGENT, ['status', '--json', '--data-dir', dataDir]), { cwd: ROOT }),
    ) as { nodeId: string };
    expect(status.nodeId).toBe(NODE_ID);
  });
});
