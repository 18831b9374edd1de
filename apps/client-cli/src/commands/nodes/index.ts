/** `vpnctl nodes`: the node directory sorted by usefulness (online, then least loaded). */
import type { NodeSummary } from '@corridor/protocol/control';
import { bool, str, type Command } from '../../command.js';
import { UsageError } from '../../errors.js';
import { table, writeJson } from '../../output/format.js';
import { spec } from './command.js';

export const REGION_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

/** Online first, then lowest load, then id: the order `connect auto` would try them in. */
export function byUsefulness(a: NodeSummary, b: NodeSummary): number {
  return Number(b.online) - Number(a.online) || a.load - b.load || a.id.localeCompare(b.id);
}

export const nodesCommand: Command = {
  spec,
  async run(args, ctx) {
    const region = str(args, 'region');
    if (region !== undefined && !REGION_PATTERN.test(region)) {
      throw new UsageError(`--region must be a region slug such as eu-central (got '${region}')`);
    }
    const api = await ctx.api();
    const nodes = [...(await api.listNodes(region))].sort(byUsefulness);
    if (bool(args, 'json')) {
      writeJson(ctx.stdout, {
        nodes: nodes.map((n) => ({
          id: n.id,
          region: n.region,
          country: n.country,
          city: n.city,
          online: n.online,
          load: n.load,
          activeSessions: n.activeSessions,
          endpoint: n.endpoint,
        })),
      });
      return 0;
    }
    if (nodes.length === 0) {
      ctx.say(
        region ? `No nodes in region ${region}. See all regions with \`vpnctl nodes\`.` : 'No nodes yet.',
      );
      return 0;
    }
    ctx.stdout.write(
      table(
        ['ID', 'REGION', 'LOCATION', 'STATUS', 'LOAD', 'SESSIONS'],
        nodes.map((n) => [
          n.id,
          n.region,
          `${n.city}, ${n.country}`,
          n.online ? 'online' : 'offline',
          n.online ? `${Math.round(n.load * 100)}%` : '-',
          n.online ? String(n.activeSessions) : '-',
        ]),
        [4, 5],
      ),
    );
    return 0;
  },
};
