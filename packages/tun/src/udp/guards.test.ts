// The UDP addon against misuse that could corrupt memory: each scenario runs in a child process
// (test/fixtures/udp-scenarios.ts) on loopback, so a crash fails the test instead of killing vitest.
import { describe, expect, it } from 'vitest';
import { run, PACKAGE_DIR, tsNodeArgs, type RunResult } from '../../test/netns.js';
import { isUdpAvailable } from './index.js';

const skip = isUdpAvailable()
  ? undefined
  : 'the UDP addon is not built (pnpm --filter @corridor/tun run build:native)';
if (skip) console.warn(`[@corridor/tun] skipping UDP guard tests: ${skip}`);

async function scenario(
  name: string,
  args: string[] = [],
  nodeFlags: string[] = [],
): Promise<RunResult & { result: Record<string, unknown> | undefined }> {
  const r = await run(process.execPath, [...nodeFlags, ...tsNodeArgs('udp-scenarios.ts'), name, ...args], {
    cwd: PACKAGE_DIR,
    timeoutMs: 30_000,
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  let result: Record<string, unknown> | undefined;
  try {
    result = line ? (JSON.parse(line.slice('RESULT '.length)) as Record<string, unknown>) : undefined;
  } catch {
    result = undefined; // a crashing child may cut its line short; the exit code tells the rest
  }
  return { ...r, result };
}

function explain(r: RunResult): string {
  return `exit ${r.code} signal ${r.signal}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 4000)}`;
}

describe.skipIf(skip !== undefined)('UdpSocket guards (child process, loopback)', () => {
  // transfer() ignores markAsUntransferable; on Node 20 it needs a V8 flag, from Node 22 it is default.
  const detachFlags = ['--expose-gc'];
  if (typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer !== 'function') {
    detachFlags.push('--harmony-rab-gsab-transfer');
  }

  for (const mode of ['plain', 'gro']) {
    it(`stops reading with an error event when a handler detaches the receive slab (${mode})`, async () => {
      const r = await scenario('slab-detach', [mode], detachFlags);
      expect(r.code, explain(r)).toBe(0);
      expect(r.signal).toBeNull();
      expect(r.stderr).not.toMatch(/corrupt|double free|Segmentation|Assertion|Aborted/i);
      expect(r.result).toMatchObject({ detached: true, closedByItself: true, batchesAfterDetach: 0 });
      const errors = r.result?.errors as Record<string, unknown>[];
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'CORRIDOR_ERR_UDP_SLAB_DETACHED', syscall: 'recvmmsg' });
      expect(errors[0]?.hint).toContain('copy');
    });
  }

  it('leaves no fd and no bound port behind when its buffers cannot be allocated', async () => {
    const r = await scenario('alloc-failure');
    expect(r.code, explain(r)).toBe(0);
    expect(r.result).toMatchObject({ leaked: 0, reopened: true });
    const failures = r.result?.failures as Record<string, unknown>[];
    expect(failures).toHaveLength(5);
    for (const f of failures) {
      expect(f).toMatchObject({ name: 'UdpError', code: 'CORRIDOR_ERR_UDP_ENOMEM' });
      expect(f.hint).toMatch(/batchSize|maxDatagramBytes/);
    }
  });

  it('sendSlab sends only the lengths it validated, even when another thread rewrites them', async () => {
    const r = await scenario('meta-race');
    expect(r.code, explain(r)).toBe(0);
    const { calls, refused, size, txPackets, txBytes } = r.result as Record<
      'calls' | 'refused' | 'size' | 'txPackets' | 'txBytes',
      number
    >;
    expect(txPackets, 'some slabs were sent').toBeGreaterThan(0);
    expect(refused, 'the other thread really changed the lengths').toBeGreaterThan(0);
    expect(calls).toBeGreaterThan(refused);
    // Every datagram that reached the kernel had the validated size: nothing read past the slab.
    expect(txBytes).toBe(txPackets * size);
  });
});
