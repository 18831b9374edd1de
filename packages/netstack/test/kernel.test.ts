// Against the real Linux kernel TCP stack: each test runs a scenario (test/fixtures/kernel-scenarios.ts)
// in a child process inside its own network namespace (crns-<pid>-<n>-<random>, deleted afterwards even
// on failure). The kernel side is an ordinary node:net/dgram socket in that namespace; our side is a
// Netstack behind a real TUN. Loss is injected in the bridge between them. As non-root the tests are
// skipped with the reason printed; CI runs them as root.
import { describe, expect, it } from 'vitest';
import { kernelSkipReason, runScenario, withNetns, type RunResult } from './netns.js';

const skipReason = kernelSkipReason();
if (skipReason) console.warn(`[@corridor/netstack] skipping kernel tests: ${skipReason}`);

function explain(r: RunResult): string {
  return `exit ${r.code} signal ${r.signal}\nstdout:\n${r.stdout.slice(-4000)}\nstderr:\n${r.stderr.slice(-4000)}`;
}

async function scenario(
  name: string,
  args: string[] = [],
  timeoutMs = 120_000,
): Promise<Record<string, unknown>> {
  const r = await withNetns((ns) => runScenario(ns, 'kernel-scenarios.ts', name, args, { timeoutMs }));
  expect(r.code, explain(r)).toBe(0);
  expect(r.result, explain(r)).toBeDefined();
  return r.result as Record<string, unknown>;
}

interface Ss {
  segsOut: number;
  retrans: number;
}

describe.skipIf(skipReason !== undefined)(
  'netstack against the Linux kernel (own netns per test)',
  { timeout: 180_000 },
  () => {
    for (const family of ['4', '6']) {
      for (const dir of ['kernel-client', 'our-client']) {
        it(`IPv${family} ${dir}: 16 MiB each way on one connection, exact bytes, no kernel retransmits`, async () => {
          const r = await scenario('bulk', [family, dir, '16']);
          expect(r).toMatchObject({ gotUp: 16 << 20, gotDown: 16 << 20, upOk: true, downOk: true });
          const ss = r.ss as Ss[];
          expect(ss.length).toBe(1);
          // `ss -ti` on the kernel side: nothing lost, so (next to) nothing retransmitted.
          expect(ss[0]!.retrans).toBeLessThanOrEqual(Math.max(3, ss[0]!.segsOut * 0.002));
          expect(r.retransmits as number).toBeLessThanOrEqual(3);
        });
      }
    }

    it('IPv4 loss in the bridge (every 50th packet both ways): exact bytes, retransmits match the losses', async () => {
      const loss = JSON.stringify({ in: { everyNth: 50 }, out: { everyNth: 50 } });
      const r = await scenario('bulk', ['4', 'kernel-client', '16', loss]);
      expect(r).toMatchObject({ upOk: true, downOk: true });
      const ss = (r.ss as Ss[])[0]!;
      const droppedIn = r.droppedIn as number;
      const droppedOut = r.droppedOut as number;
      expect(droppedIn).toBeGreaterThan(100);
      // Kernel retransmits what the bridge dropped on its way to us, not whole windows.
      expect(ss.retrans).toBeGreaterThanOrEqual(droppedIn * 0.5);
      expect(ss.retrans).toBeLessThanOrEqual(droppedIn * 1.5 + 20);
      expect(r.retransmits as number).toBeLessThanOrEqual(droppedOut * 1.5 + 20);
    });

    it('IPv4 random seeded 2 % loss both ways, our client: exact bytes, bounded retransmits', async () => {
      const loss = JSON.stringify({ in: { random: 0.02, seed: 3 }, out: { random: 0.02, seed: 4 } });
      const r = await scenario('bulk', ['4', 'our-client', '16', loss]);
      expect(r).toMatchObject({ upOk: true, downOk: true });
      const ss = (r.ss as Ss[])[0]!;
      expect(ss.retrans).toBeLessThanOrEqual((r.droppedIn as number) * 1.5 + 20);
      expect(r.retransmits as number).toBeLessThanOrEqual((r.droppedOut as number) * 1.5 + 20);
    });

    it('IPv6 random 5 % loss on our sends only: exact bytes, kernel retransmits nothing', async () => {
      const r = await scenario('bulk', [
        '6',
        'our-client',
        '8',
        JSON.stringify({ out: { random: 0.05, seed: 9 } }),
      ]);
      expect(r).toMatchObject({ upOk: true, downOk: true });
      expect((r.ss as Ss[])[0]!.retrans).toBeLessThanOrEqual(3);
      expect(r.retransmits as number).toBeGreaterThan(0);
    });

    for (const [family, count] of [
      ['4', '200'],
      ['6', '100'],
    ] as const) {
      it(`IPv${family}: ${count} concurrent connections each way echo 32 KiB`, async () => {
        const r = await scenario('concurrent', [family, count, '32768']);
        expect(r).toMatchObject({ ok: 2 * Number(count), failed: 0 });
        expect(r.maxConnections as number).toBeGreaterThan(Number(count));
      });
    }

    for (const family of ['4', '6']) {
      it(`IPv${family} half-close: each side answers after the other's FIN`, async () => {
        const r = await scenario('half-close', [family]);
        expect(r.replyA).toBe('reply-to:request-from-kernel');
        expect(r.replyB).toBe('kernel-reply-to:request-from-netstack');
      });

      it(`IPv${family} RST both ways, refused connections both ways, RST on close with unread data`, async () => {
        const r = await scenario('reset', [family]);
        expect(r).toMatchObject({
          ourReset: 'ECONNRESET',
          kernelReset: 'ECONNRESET',
          refusedByUs: 'ECONNREFUSED',
          refusedByKernel: 'ECONNREFUSED',
          unreadReset: 'ECONNRESET',
        });
      });

      it(`IPv${family} window-full receivers: the window closes, probes keep it alive, all bytes arrive`, async () => {
        const r = await scenario('window-full', [family, '16']);
        expect(r.ourWindow).toBe(0); // we advertise a closed window (field 0) while our reader is paused
        // Our receive buffer is full (up to the window scale's rounding, 8 bytes here) and never over.
        expect(r.ourBuffered as number).toBeGreaterThan(256 * 1024 - 8);
        expect(r.ourBuffered as number).toBeLessThanOrEqual(256 * 1024);
        expect(r.kernelSendQ as number).toBeGreaterThan(0); // the kernel holds the rest back
        expect(r.aOk).toBe(true);
        expect(r.ourSndWnd).toBe(0); // the paused kernel reader closed its window to us
        expect(r.probes as number).toBeGreaterThan(0); // and we probed it
        expect(r.bOk).toBe(true);
        expect(r.rtoTimeouts).toBe(0);
      });

      it(`IPv${family} ICMP echo and UDP both ways; ICMP port unreachable reaches our UDP socket`, async () => {
        const r = await scenario('icmp-udp', [family]);
        expect(r).toMatchObject({
          pingOk: true,
          udpEcho: 'echo:from-kernel',
          udpFromUs: 'kernel-answer',
          udpRefused: 'ECONNREFUSED',
          echoReplies: 3,
        });
      });
    }
  },
);
