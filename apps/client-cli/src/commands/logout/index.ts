/** `vpnctl logout`: revoke at the controller (best effort), then forget the tokens locally. */
import { ApiClient } from '../../api/client.js';
import type { Command } from '../../command.js';
import { UserError } from '../../errors.js';
import { spec } from './command.js';

export const logoutCommand: Command = {
  spec,
  async run(_args, ctx) {
    const creds = await ctx.store.readCredentials();
    if (creds === undefined) {
      ctx.say('Not logged in.');
      return 0;
    }
    const config = await ctx.store.readConfig();
    let revoked = false;
    if (config !== undefined) {
      try {
        await new ApiClient(ctx.store, { ...config, server: creds.server }).logout();
        revoked = true;
      } catch (e) {
        const why = e instanceof UserError ? e.message : (e as Error).message;
        ctx.say(`warning: could not revoke the login at the controller (${why}); it expires by itself.`);
      }
    }
    await ctx.store.removeCredentials();
    ctx.say(`Logged out of ${creds.server}${revoked ? '' : ' (locally)'}.`);
    return 0;
  },
};
