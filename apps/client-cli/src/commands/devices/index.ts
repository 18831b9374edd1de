/** `vpnctl devices`: the account's devices (this machine's one is marked). */
import type { Device } from '@corridor/protocol/control';
import { bool, type Command } from '../../command.js';
import { CLI_ERROR_CODES, UsageError, UserError } from '../../errors.js';
import { formatDate, table, writeJson } from '../../output/format.js';
import { spec } from './command.js';

/** Finds a device by id, unique id prefix (4+ characters) or exact name. */
export function findDevice(devices: readonly Device[], query: string): Device {
  const byId = devices.find((d) => d.id === query.toLowerCase());
  if (byId) return byId;
  const byName = devices.filter((d) => d.name === query);
  if (byName.length === 1) return byName[0]!;
  const byPrefix = query.length >= 4 ? devices.filter((d) => d.id.startsWith(query.toLowerCase())) : [];
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byName.length > 1 || byPrefix.length > 1) {
    throw new UserError(
      CLI_ERROR_CODES.INPUT,
      `'${query}' matches several devices`,
      'use the full device id from `vpnctl devices`',
    );
  }
  throw new UserError(
    CLI_ERROR_CODES.INPUT,
    `no device matches '${query}'`,
    'list your devices with `vpnctl devices`',
  );
}

export const devicesCommand: Command = {
  spec,
  async run(args, ctx) {
    const [action = 'list', target, newName, ...extra] = args.positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
    if (!['list', 'rename', 'remove'].includes(action)) throw new UsageError(`unknown action '${action}'`);
    if (action === 'list' && target !== undefined) throw new UsageError(`unexpected argument '${target}'`);
    if (action !== 'list' && target === undefined) throw new UsageError(`missing <device>`);
    if (action === 'rename' && newName === undefined) throw new UsageError('missing <new-name>');
    if (action === 'remove' && newName !== undefined)
      throw new UsageError(`unexpected argument '${newName}'`);

    const api = await ctx.api();
    const creds = await api.credentials();
    const local = await ctx.store.readDevice();
    const currentId =
      local && local.server === api.server && local.userId === creds.user.id ? local.id : undefined;
    const view = (d: Device) => ({ ...d, current: d.id === currentId });
    const devices = await api.listDevices();

    if (action === 'list') {
      const sorted = [...devices].sort(
        (a, b) =>
          Number(b.id === currentId) - Number(a.id === currentId) || a.createdAt.localeCompare(b.createdAt),
      );
      if (bool(args, 'json')) {
        writeJson(ctx.stdout, { devices: sorted.map(view) });
        return 0;
      }
      if (sorted.length === 0) {
        ctx.say('No devices yet: `vpnctl connect` registers this machine on first use.');
        return 0;
      }
      ctx.stdout.write(
        table(
          ['ID', 'NAME', 'REGISTERED', 'LAST SEEN', ''],
          sorted.map((d) => [
            d.id,
            d.name,
            formatDate(d.createdAt),
            formatDate(d.lastSeenAt),
            d.id === currentId ? '(this device)' : '',
          ]),
        ),
      );
      return 0;
    }

    const device = findDevice(devices, target!);
    if (action === 'rename') {
      const name = newName!.trim();
      if (name.length === 0 || name.length > 64 || [...name].some((ch) => ch < ' ' || ch === '\u007f')) {
        throw new UsageError('<new-name> must be 1-64 characters without control characters');
      }
      const renamed = await api.renameDevice(device.id, name);
      if (currentId === device.id && local) await ctx.store.writeDevice({ ...local, name: renamed.name });
      if (bool(args, 'json')) writeJson(ctx.stdout, { device: view(renamed) });
      else ctx.say(`Renamed ${device.name} to ${renamed.name}.`);
      return 0;
    }

    // remove
    const isCurrent = device.id === currentId;
    if (!bool(args, 'yes')) {
      if (!ctx.interactive) {
        throw new UserError(
          CLI_ERROR_CODES.INPUT,
          `not removing ${device.name} without confirmation`,
          'add --yes to remove it (vpnctl does not prompt when not on a terminal)',
        );
      }
      const ok = await ctx.prompt.confirm(
        `Remove ${device.name} (${device.id})${isCurrent ? ', THIS device' : ''}? Its connections stop working.`,
      );
      if (!ok) {
        ctx.say('Nothing removed.');
        return 1;
      }
    }
    await api.removeDevice(device.id);
    if (isCurrent) await ctx.store.removeDevice();
    ctx.say(
      `Removed ${device.name}.${isCurrent ? ' This machine gets a new device key on its next `vpnctl connect`.' : ''}`,
    );
    return 0;
  },
};
