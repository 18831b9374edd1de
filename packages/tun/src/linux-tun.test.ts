// Real-kernel tests. Each test runs a fixture (test/fixtures/scenarios.ts) in a child process inside its
// own network namespace (crtun-<pid>-<n>), created and deleted around the test even on failure.
// As non-root they are skipped with the reason printed; CI runs as root, where they must run.
import { describe, expect, it } from 'vitest';
import { kernelSkipReason, runScenario, withNetns, type RunResult } from '../test/netns.js';
import { HINT_EPERM } from './errors.js';

const skipReason = kernelSkipReason();
if (skipReason) console.warn(`[@corridor/tun] skipping kernel TUN tests: ${skipReason}`);

function explain(r: RunResult): string {
  return `exit ${r.code} signal ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

// Generous per-test timeout: each test spawns a child (tsx start-up) and a CI machine may be busy.
describe.skipIf(skipReason !== undefined)(
  'LinuxTun on a real kernel (own netns per test)',
  { timeout: 60_000 },
  () => {
    it('answers a kernel ping routed into the TUN', async () => {
      const r = await withNetns((ns) => runScenario(ns, 'ping'));
      expect(r.code, explain(r)).toBe(0);
      expect(r.result).toMatchObject({ pingOk: true, requests: 1, replies: 1 });
    });

    it('reads UDP datagrams a kernel socket sends behind the TUN (on-link and via an added route)', async () => {
      const r = await withNetns((ns) => runScenario(ns, 'udp-read'));
      expect(r.code, explain(r)).toBe(0);
      expect(r.result?.seen).toEqual([
        { src: '198.18.10.1', dst: '198.51.100.7', dstPort: 5555, payload: 'corridor-hello-1' },
        { src: '198.18.10.1', dst: '198.18.10.2', dstPort: 5555, payload: 'corridor-hello-2' },
      ]);
      expect(r.result?.routes).toContain('198.51.100.0/24');
      expect(r.result?.routesAfter).not.toContain('198.51.100.0/24');
    });

    it('delivers written IPv4/UDP packets to a kernel socket; a non-IP write is an error event, not a throw', async () => {
      const r = await withNetns((ns) => runScenario(ns, 'udp-write'));
      expect(r.code, explain(r)).toBe(0);
      expect(r.result).toMatchObject({
        single: true,
        batch: 2,
        slabWritten: 4,
        bad: false,
        afterClose: false,
      });
      expect(r.result?.received).toEqual(
        [1, 2, 3, 4, 5, 6, 7].map((n) => ({ payload: `written-${n}`, from: '198.18.10.2', port: 4444 })),
      );
      const einval = expect.objectContaining({
        code: 'CORRIDOR_ERR_TUN_EINVAL',
        errno: 22,
        syscall: 'write',
      });
      expect(r.result?.errors).toEqual([einval, einval, einval]);
      // Dropped: 3 rejected packets + 1 write after close.
      expect(r.result?.stats).toMatchObject({ txPackets: 7, txErrors: 3, txDropped: 4, errors: 3 });
    });

    it('refuses bad writeSlab layouts and attach geometries with INVALID_ARG, and keeps the slab from being transferred', async () => {
      const r = await withNetns((ns) => runScenario(ns, 'guards'));
      expect(r.code, explain(r)).toBe(0);
      const invalid = 'CORRIDOR_ERR_TUN_INVALID_ARG';
      expect(r.result?.writeSlab).toEqual({
        overrun: invalid,
        count: invalid,
        nativeOverrun: invalid,
        nativeWrap: invalid,
        nativeCount: invalid,
        nativeNegative: invalid,
        valid: 2,
        notAHandle: invalid,
      });
      expect(r.result?.txPackets).toBe(2); // nothing of the refused calls was written
      expect(r.result?.attach).toEqual({
        hugeBatch: invalid,
        slab65535: invalid,
        shortMeta: invalid,
        valid: 'ok',
      });
      const slabBytes = 64 * 2048 + 65536; // LinuxTun's default slab
      expect(r.result?.slabBytesAfterTransfer).toBe(slabBytes);
      expect(r.result?.seen).toEqual(['guard-1', 'guard-2']);
    });

    it('stops reading with an error event when a handler detaches the read slab (no write to freed memory)', async () => {
      // transfer() ignores markAsUntransferable; on Node 20 it needs a V8 flag, from Node 22 it is default.
      const nodeFlags = ['--expose-gc'];
      if (typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer !== 'function') {
        nodeFlags.push('--harmony-rab-gsab-transfer');
      }
      const r = await withNetns((ns) => runScenario(ns, 'slab-detach', [], { nodeFlags, timeoutMs: 20_000 }));
      expect(r.code, explain(r)).toBe(0);
      expect(r.signal).toBeNull();
      expect(r.stderr).not.toMatch(/corrupt|double free|Segmentation|Assertion|Aborted/i);
      expect(r.result).toMatchObject({ detached: true, closedByItself: true, batchesAfterDetach: 0 });
      const errors = r.result?.errors as Record<string, unknown>[];
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'CORRIDOR_ERR_TUN_SLAB_DETACHED', syscall: 'read' });
      expect(errors[0]?.hint).toContain('copy');
    });

    it('writeSlab writes only the lengths it validated, even when another thread rewrites them meanwhile', async () => {
      const r = await withNetns((ns) => runScenario(ns, 'slab-race', [], { timeoutMs: 30_000 }));
      expect(r.code, explain(r)).toBe(0);
      const { calls, refused, size, txPackets, txBytes } = r.result as Record<
        'calls' | 'refused' | 'size' | 'txPackets' | 'txBytes',
        number
      >;
      expect(txPackets, 'some batches were written').toBeGreaterThan(0);
      expect(refused, 'the other thread really changed the lengths').toBeGreaterThan(0);
      expect(calls).toBeGreaterThan(refused);
      // Every packet that reached the kernel had the validated size: no over-long datagram.
      expect(txBytes).toBe(txPackets * size);
    });

    it('reports write errors per call and per rejected packet, never a stale one', async () => {
      const r = await withNetns((ns) => runScenario(ns, 'write-errors'));
      expect(r.code, explain(r)).toBe(0);
      expect(r.result?.counts).toEqual({
        afterBadWrite: 1,
        afterGoodSlab: 1, // a clean writeSlab after a failed write() reports nothing
        afterBadSlab: 4, // three rejected packets in one slab: three events
        afterBatch: 6,
        afterGoodSlab2: 6,
      });
      expect(r.result?.written).toBe(1);
      const einval = expect.objectContaining({
        code: 'CORRIDOR_ERR_TUN_EINVAL',
        errno: 22,
        syscall: 'write',
      });
      expect(r.result?.errors).toEqual(new Array(6).fill(einval));
      expect(r.result?.stats).toMatchObject({ txPackets: 5, txErrors: 6, errors: 6 });
    });

    it('configures IPv4/IPv6 addresses, MTU, up/down and routes; multiqueue, EBUSY, invalid and kernel-chosen names', async () => {
      const r = await withNetns((ns) => runScenario(ns, 'config'));
      expect(r.code, explain(r)).toBe(0);
      const res = r.result as Record<string, string | Record<string, unknown>>;
      expect(res.mtu).toBe(1380);
      expect(res.addrs).toContain('inet 198.18.20.1/24');
      expect(res.addrs).toContain('qlen 2000');
      expect(res.addrs).toContain('inet6 fd00:c0:1::1/64');
      expect(res.routes4).toContain('203.0.113.0/24');
      expect(res.routes6).toContain('fd00:c0:2::/64');
      expect(res.link).not.toMatch(/[<,]UP[,>]/);
      expect(res.routes4After).not.toContain('203.0.113.0/24');
      expect(res.duplicateRoute).toMatchObject({ code: 'CORRIDOR_ERR_TUN_EEXIST' });
      expect(res.busy).toMatchObject({
        code: 'CORRIDOR_ERR_TUN_EBUSY',
        errno: 16,
        syscall: 'ioctl(TUNSETIFF)',
      });
      expect((res.busy as { hint: string }).hint).toContain('in use');
      expect(res.invalid).toMatchObject({ code: 'CORRIDOR_ERR_TUN_INVALID_NAME' });
      expect(res.autoName).toMatch(/^tun\d+$/);
      expect(res.secondName).toBe('crcfg0');
    });

    it('fails with a clear EPERM error without CAP_NET_ADMIN (as nobody)', async () => {
      const prefix = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all'];
      // tsx keeps a compile cache per user in the temp dir; give nobody its own writable one.
      const r = await withNetns((ns) => runScenario(ns, 'eperm', [], { prefix, env: { TMPDIR: '/tmp' } }));
      expect(r.code, explain(r)).toBe(0);
      expect(r.result?.opened).toBe(false);
      expect(r.result?.uid).not.toBe(0);
      const error = r.result?.error as Record<string, unknown>;
      expect(error).toMatchObject({ name: 'TunError', code: 'CORRIDOR_ERR_TUN_EPERM' });
      // EPERM from TUNSETIFF where /dev/net/tun is 0666 (Debian default); EACCES from open() where it is 0600.
      expect([1, 13]).toContain(error.errno);
      expect(['ioctl(TUNSETIFF)', 'open(/dev/net/tun)']).toContain(error.syscall);
      expect(error.hint).toContain(HINT_EPERM);
      expect(error.message).toContain('CAP_NET_ADMIN');
      expect(error.message).toContain('setcap cap_net_admin+ep');
    });

    it.each(['in-handler', 'timer'])(
      'closes during a kernel flood (%s) without crashing and exits by itself',
      async (mode) => {
        const r = await withNetns((ns) => runScenario(ns, 'close-burst', [mode], { timeoutMs: 20_000 }));
        expect(r.code, explain(r)).toBe(0);
        expect(r.signal).toBeNull();
        expect(r.stderr).not.toMatch(/Error|Assertion|Segmentation/);
        expect(r.result).toMatchObject({
          mode,
          closes: 1,
          again: 'resolved',
          writeAfter: false,
          packetsAfterClose: 0,
        });
        expect(r.result?.packets as number).toBeGreaterThan(100);
      },
    );

    it('reports a deleted interface as an error event and closes itself', async () => {
      const r = await withNetns((ns) => runScenario(ns, 'deleted'));
      expect(r.code, explain(r)).toBe(0);
      expect(r.result).toMatchObject({ closed: true, writeAfterDelete: false });
      const errors = r.result?.errors as { code: string; hint: string }[];
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect(errors[0]?.code).toMatch(/^CORRIDOR_ERR_TUN_EBADF/);
      expect(errors[0]?.hint).toContain('deleted');
    });

    it('routes an exception thrown by the packet handler to uncaughtException (no abort)', async () => {
      const r = await withNetns((ns) => runScenario(ns, 'handler-throws'));
      expect(r.code, explain(r)).toBe(0);
      expect(r.result?.caught).toEqual(['handler boom']);
    });

    it('survives worker threads exiting or being terminated with their multiqueue queue open', async () => {
      const r = await withNetns((ns) => runScenario(ns, 'workers'));
      expect(r.code, explain(r)).toBe(0);
      expect(r.signal).toBeNull();
      expect(r.result?.names).toEqual(['crmq0', 'crmq0', 'crmq0', 'crmq0']);
      expect(r.result?.exits).toEqual([0, 1, 0, 1]);
    });

    it('survives worker threads ending inside their packet handler during a flood (terminate, exit, close)', async () => {
      const r = await withNetns((ns) => runScenario(ns, 'worker-flood', [], { timeoutMs: 45_000 }));
      expect(r.code, explain(r)).toBe(0);
      expect(r.signal).toBeNull();
      expect(r.result?.outcomes).toEqual([
        { mode: 'terminate', code: 1, sawPackets: true },
        { mode: 'exit-in-handler', code: 0, sawPackets: true },
        { mode: 'close-in-handler', code: 0, sawPackets: true },
        { mode: 'terminate', code: 1, sawPackets: true },
      ]);
      expect(r.result?.afterClosed).toBe(true);
    });

    it('leaves no fd and no interface behind when its read buffers cannot be allocated', async () => {
      const r = await withNetns((ns) => runScenario(ns, 'alloc-failure'));
      expect(r.code, explain(r)).toBe(0);
      expect(r.result).toMatchObject({ leaked: 0, interfaceLeft: false });
      const failures = r.result?.failures as Record<string, unknown>[];
      expect(failures).toHaveLength(5);
      for (const f of failures) {
        expect(f).toMatchObject({ name: 'TunError', code: 'CORRIDOR_ERR_TUN_ENOMEM' });
        expect(f.hint).toMatch(/batchSize/);
      }
    });

    it('does not leak fds over 1000 open/close cycles (+50 full create/delete cycles)', async () => {
      const r = await withNetns((ns) => runScenario(ns, 'fd-leak', ['1000', '50'], { timeoutMs: 60_000 }));
      expect(r.code, explain(r)).toBe(0);
      expect(r.result?.cycles).toBe(1000);
      expect(r.result?.after).toBe(r.result?.before);
    });
  },
);
