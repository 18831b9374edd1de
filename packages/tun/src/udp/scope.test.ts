// IPv6 link-local peers on two links of one host (needs root: three network namespaces joined by veth
// pairs; nothing is added to the root namespace). Both clients own the same link-local address
// fe80::2, on different links of the node: only the scope (interface) tells them apart, so the node
// must keep it in the source endpoint and send replies out of the link they came from.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FIXTURES_DIR, PACKAGE_DIR, isRoot, run, tsNodeArgs, withNetns } from '../../test/netns.js';
import { isUdpAvailable } from './index.js';

const exec = promisify(execFile);
const skip = !isRoot
  ? 'not root: the link-local test needs network namespaces (CI runs it as root)'
  : !isUdpAvailable()
    ? 'the UDP addon is not built (pnpm --filter @corridor/tun run build:native)'
    : undefined;
if (skip) console.warn(`[@corridor/tun] skipping the IPv6 scope test: ${skip}`);

const ip = (...args: string[]): Promise<unknown> => exec('ip', args);

function parseResult(stdout: string): Record<string, unknown> | undefined {
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  return line ? (JSON.parse(line.slice('RESULT '.length)) as Record<string, unknown>) : undefined;
}

describe.skipIf(skip !== undefined)('UdpSocket and IPv6 link-local peers', () => {
  it(
    'answers two peers with the same link-local address on different links, each on its own link',
    { timeout: 90_000 },
    async () => {
      await withNetns((a) =>
        withNetns((node) =>
          withNetns(async (c) => {
            const tag = `${process.pid % 100000}`;
            const links = [
              { ns: a, client: `cua${tag}`, node: `cna${tag}` },
              { ns: c, client: `cuc${tag}`, node: `cnc${tag}` },
            ];
            for (const l of links) {
              await ip(
                'link',
                'add',
                l.client,
                'netns',
                l.ns,
                'type',
                'veth',
                'peer',
                'name',
                l.node,
                'netns',
                node,
              );
              // Static link-local addresses only: both clients are fe80::2, the node fe80::1 on both links.
              await ip('-n', l.ns, 'link', 'set', l.client, 'addrgenmode', 'none');
              await ip('-n', node, 'link', 'set', l.node, 'addrgenmode', 'none');
              await ip('-n', l.ns, 'addr', 'add', 'fe80::2/64', 'dev', l.client, 'nodad');
              await ip('-n', node, 'addr', 'add', 'fe80::1/64', 'dev', l.node, 'nodad');
              await ip('-n', l.ns, 'link', 'set', l.client, 'up');
              await ip('-n', node, 'link', 'set', l.node, 'up');
            }
            const server = run(
              'ip',
              ['netns', 'exec', node, process.execPath, ...tsNodeArgs('udp-scenarios.ts'), 'scope-echo'],
              { cwd: PACKAGE_DIR, timeoutMs: 60_000 },
            );
            // The clients retry every 100 ms (for up to 30 s) while the server's tsx starts up.
            const clients = await Promise.all(
              links.map((l, i) =>
                run(
                  'ip',
                  [
                    'netns',
                    'exec',
                    l.ns,
                    process.execPath,
                    `${FIXTURES_DIR}udp-echo-client.mjs`,
                    `fe80::1%${l.client}`,
                    '40000',
                    `client-${i}`,
                  ],
                  { timeoutMs: 40_000 },
                ),
              ),
            );
            const s = await server;
            const sr = parseResult(s.stdout);
            expect(s.code, `${s.stdout}\n${s.stderr}`).toBe(0);
            const replies = clients.map((r) => [...new Set(parseResult(r.stdout)?.replies as string[])]);
            expect(replies, JSON.stringify({ clients, server: s })).toEqual([
              ['echo:client-0'],
              ['echo:client-1'],
            ]);
            // Two peers, told apart by their scope (interface index) only.
            const sources = sr?.sources as string[];
            expect(sources).toHaveLength(2);
            expect(sources.every((k) => /^\[fe80::2%\d+\]:\d+$/.test(k))).toBe(true);
            expect(sr?.txErrors).toBe(0);
          }),
        ),
      );
    },
  );
});
