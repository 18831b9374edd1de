// TUN offloads on a real kernel (test/fixtures/offload-scenarios.ts, own netns per test). Root only;
// skipped with the reason printed elsewhere.
import { describe, expect, it } from 'vitest';
import { kernelSkipReason, PACKAGE_DIR, run, tsNodeArgs, withNetns } from '../test/netns.js';

const skipReason = kernelSkipReason();
if (skipReason) console.warn(`[@corridor/tun] skipping kernel offload tests: ${skipReason}`);

async function scenario(name: string) {
  return withNetns(async (ns) => {
    const r = await run(
      'ip',
      ['netns', 'exec', ns, process.execPath, ...tsNodeArgs('offload-scenarios.ts'), name],
      {
        cwd: PACKAGE_DIR,
        timeoutMs: 90_000,
      },
    );
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    return { ...r, result: line ? (JSON.parse(line.slice(7)) as Record<string, unknown>) : undefined };
  });
}

describe.skipIf(skipReason !== undefined)(
  'LinuxTun offload (IFF_VNET_HDR, TSO read, GRO write)',
  { timeout: 120_000 },
  () => {
    it('carries a kernel TCP connection hairpinned through one TUN: super-packets cut on read, runs coalesced on write, bytes intact', async () => {
      const r = await scenario('tcp-hairpin');
      const why = `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
      expect(r.code, why).toBe(0);
      expect(r.result, why).toMatchObject({
        intact: true,
        bytes: 24 << 20,
        from: '198.18.11.2',
        badChecksums: 0,
        udpSeen: 1,
        txErrors: 0,
      });
      // Handlers only ever see MTU-sized packets, although the kernel handed over super-packets.
      expect(r.result?.maxLen).toBeLessThanOrEqual(1500);
      const off = r.result?.offload as Record<string, number | boolean>;
      expect(off.enabled).toBe(true);
      expect(off.rxDropped).toBe(0);
      expect(off.rxSuperPackets as number).toBeGreaterThan(0);
      expect(off.txSuperPackets as number).toBeGreaterThan(0);
      expect(off.txCoalesced as number).toBeGreaterThan(2 * (off.txSuperPackets as number));
    });
  },
);
