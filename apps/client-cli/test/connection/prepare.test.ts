/**
 * The controller side of `vpnctl connect` (Connection.prepare: device key + registration, node choice,
 * ticket) against a real controller. Nothing on the system is touched by prepare.
 */
import { readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPublicKey, x25519PublicFromPrivate, x25519PrivateKeyFromBytes } from '@corridor/protocol';
import { Connection, type ConnectRequest } from '../../src/connection/connection.js';
import { ensureDevice } from '../../src/connection/device.js';
import { createContext } from '../../src/context.js';
import { PassThrough } from 'node:stream';
import { runCli, tempHome } from '../helpers/cli.js';
import { servicesSkipReason, startController, type Controller } from '../helpers/controller.js';

if (servicesSkipReason) console.warn(servicesSkipReason);

const request = (target: string, region?: string): ConnectRequest => ({
  target,
  region,
  transport: 'auto',
  split: [],
  killSwitch: false,
  dns: false,
  resolvConf: '/nonexistent/resolv.conf',
});

describe.skipIf(servicesSkipReason !== undefined)(
  'connect: device, node and ticket from a real controller',
  () => {
    let ctl: Controller;
    const homes: ReturnType<typeof tempHome>[] = [];
    beforeAll(async () => {
      ctl = await startController();
    });
    afterAll(async () => {
      await ctl?.stop();
      for (const h of homes) h.remove();
    });

    async function session(user?: { email: string; password: string }, h = tempHome()) {
      homes.push(h);
      const u = user ?? (await ctl.createUser());
      const r = await runCli(
        ['login', '--server', ctl.url, '--pin', ctl.fingerprint256, '--email', u.email, '--password-stdin'],
        {
          env: h.env,
          stdin: u.password,
        },
      );
      expect(r.code, r.stderr).toBe(0);
      const notes: string[] = [];
      const err = new PassThrough();
      err.on('data', (c: Buffer) => notes.push(c.toString()));
      const ctx = createContext({ stdout: new PassThrough(), stderr: err, isTTY: false, env: h.env }, false);
      return { ctx, h, notes, user: u, ui: { note: (t: string) => notes.push(t), tick: () => undefined } };
    }

    it('generates the device key locally (0600) on first use, registers only its public key, and reuses it', async () => {
      const s = await session();
      const api = await s.ctx.api();
      const first = await ensureDevice(s.ctx, api);
      const keyFile = s.ctx.paths.deviceKeyFile;
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      const text = readFileSync(keyFile, 'utf8')
        .split('\n')
        .find((l) => l && !l.startsWith('#'))!;
      const priv = x25519PrivateKeyFromBytes(Buffer.from(text, 'base64url'));
      expect(priv.ok).toBe(true);
      const pub = formatPublicKey(
        'x25519pub',
        x25519PublicFromPrivate(priv.ok ? priv.value : (undefined as never)),
      );
      const devices = await api.listDevices();
      expect(devices).toHaveLength(1);
      expect(devices[0]!.publicKey).toBe(pub);
      expect(first.record.publicKey).toBe(pub);
      expect(JSON.stringify(devices)).not.toContain(text); // the private key never went to the controller
      const again = await ensureDevice(s.ctx, api);
      expect(again.record.id).toBe(first.record.id);
      expect(await api.listDevices()).toHaveLength(1);

      // Another account on the same machine gets its own device and key.
      const other = await session(undefined, s.h);
      const api2 = await other.ctx.api();
      const theirs = await ensureDevice(other.ctx, api2);
      expect(theirs.record.id).not.toBe(first.record.id);
      expect(theirs.record.publicKey).not.toBe(first.record.publicKey);
    });

    it('auto picks the least loaded online node of the region and gets a ticket for it', async () => {
      const region = `p${Date.now().toString(36)}`;
      await ctl.createNode({ id: `${region}-a`, region, load: 0.7 });
      await ctl.createNode({ id: `${region}-b`, region, load: 0.2 });
      await ctl.createNode({ id: `${region}-c`, region, online: false });
      const s = await session();
      const c = await Connection.prepare(s.ctx, request('auto', region), s.ui);
      expect(c.nodeId).toBe(`${region}-b`);
      expect(s.notes.join('\n')).toContain(`Picked ${region}-b`);
    });

    it('names the problem: unknown node, offline node, no node online in a region', async () => {
      const region = `q${Date.now().toString(36)}`;
      const off = await ctl.createNode({ id: `${region}-off`, region, online: false });
      const s = await session();
      await expect(Connection.prepare(s.ctx, request('no-such-node'), s.ui)).rejects.toMatchObject({
        code: 'CORRIDOR_ERR_INPUT',
        message: "there is no node named 'no-such-node'",
      });
      await expect(Connection.prepare(s.ctx, request(off.id), s.ui)).rejects.toMatchObject({
        code: 'CORRIDOR_ERR_NODE_OFFLINE',
        hint: expect.stringContaining('vpnctl connect auto'),
      });
      await expect(Connection.prepare(s.ctx, request('auto', region), s.ui)).rejects.toMatchObject({
        code: 'CORRIDOR_ERR_NODE_OFFLINE',
        message: `no node is online in region ${region}`,
      });
    });

    it('a device removed from the account (elsewhere) is registered again with a new key', async () => {
      const node = await ctl.createNode();
      const s = await session();
      const api = await s.ctx.api();
      const before = await ensureDevice(s.ctx, api);
      await api.removeDevice(before.record.id);
      const c = await Connection.prepare(s.ctx, request(node.id), s.ui);
      expect(c.nodeId).toBe(node.id);
      const now = await s.ctx.store.readDevice();
      expect(now!.id).not.toBe(before.record.id);
      expect(now!.publicKey).not.toBe(before.record.publicKey);
      expect(s.notes.join('\n')).toContain('no longer registered');
    });
  },
);
