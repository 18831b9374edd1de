/** `vpnctl whoami`: who is logged in where, verified against the controller. */
import { bool, type Command } from '../../command.js';
import { formatDate, writeJson } from '../../output/format.js';
import { spec } from './command.js';

export const whoamiCommand: Command = {
  spec,
  async run(args, ctx) {
    const api = await ctx.api();
    await api.credentials();
    // An authenticated call proves the login is alive (and refreshes it when due).
    const devices = await api.listDevices();
    const creds = await api.credentials();
    const local = await ctx.store.readDevice();
    const device =
      local && local.server === api.server && local.userId === creds.user.id
        ? devices.find((d) => d.id === local.id)
        : undefined;
    const trust = api.config.trust;
    const fingerprint256 = trust.mode === 'pin' ? trust.fingerprint256 : null;
    if (bool(args, 'json')) {
      writeJson(ctx.stdout, {
        server: api.server,
        user: creds.user,
        trust: { mode: trust.mode, fingerprint256 },
        device: device ? { id: device.id, name: device.name, publicKey: device.publicKey } : null,
        refreshExpiresAt: new Date(creds.refreshExpiresAt).toISOString(),
      });
      return 0;
    }
    const trustText =
      trust.mode === 'pin'
        ? `pinned certificate SHA-256 ${fingerprint256}`
        : trust.mode === 'ca'
          ? `CA bundle from ${trust.file}`
          : 'system CA store';
    ctx.stdout.write(
      [
        `${creds.user.email}${creds.user.role === 'admin' ? ' (admin)' : ''}`,
        `  user id     ${creds.user.id}`,
        `  controller  ${api.server}`,
        `  trust       ${trustText}`,
        `  device      ${device ? `${device.name} (${device.id})` : 'none yet: registered on the first `vpnctl connect`'}`,
        `  login valid until ${formatDate(new Date(creds.refreshExpiresAt).toISOString())} (renewed while in use)`,
        '',
      ].join('\n'),
    );
    return 0;
  },
};
