/**
 * "What worked on this network": `auto` remembers, per network, the transport that last completed a
 * handshake and tries it first next time (then the rest in the usual order udp -> tcp -> tls -> wss).
 *
 * The network key needs no SSID: the IPv4 default route's gateway and interface from
 * /proc/net/route (`gw 192.168.1.1 dev wlan0`), hashed (SHA-256, first 16 hex digits) so the file does
 * not list the networks a user visited. No default route: key `none`.
 *
 * Storage: `<stateDir>/transports.json`, mode 0600, at most MAX_NETWORKS entries (oldest dropped).
 * A missing, unreadable or malformed file counts as empty: the memory is an optimisation, never a
 * reason to fail a connect.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const STREAM_ORDER = ['udp', 'tcp', 'tls', 'wss'] as const;
export type AutoTransport = (typeof STREAM_ORDER)[number];
const MAX_NETWORKS = 64;

/** The default route's gateway and interface from /proc/net/route text; null without one. */
export function defaultRouteOf(procNetRoute: string): { gateway: string; iface: string } | null {
  for (const line of procNetRoute.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, gw, , , , metric, mask] = f as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (dest !== '00000000' || mask !== '00000000') continue;
    if (!/^[0-9A-Fa-f]{8}$/.test(gw) || !/^\d+$/.test(metric)) continue;
    const n = Number.parseInt(gw, 16);
    // /proc/net/route prints the address in host (little-endian) byte order.
    const gateway = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
    return { gateway, iface };
  }
  return null;
}

export function networkKey(procNetRoute: string): string {
  const r = defaultRouteOf(procNetRoute);
  if (r === null) return 'none';
  return createHash('sha256').update(`gw ${r.gateway} dev ${r.iface}`).digest('hex').slice(0, 16);
}

/** Order for `auto`: the remembered transport first, then the usual order. */
export function autoOrder(remembered: AutoTransport | null): AutoTransport[] {
  return remembered === null
    ? [...STREAM_ORDER]
    : [remembered, ...STREAM_ORDER.filter((t) => t !== remembered)];
}

interface MemoryFile {
  version: 1;
  networks: Record<string, { transport: AutoTransport; at: string }>;
}

export class NetworkMemory {
  constructor(
    private readonly file: string,
    private readonly readRoutes: () => Promise<string> = () => readFile('/proc/net/route', 'utf8'),
  ) {}

  static inStateDir(stateDir: string): NetworkMemory {
    return new NetworkMemory(path.join(stateDir, 'transports.json'));
  }

  private async load(): Promise<MemoryFile> {
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as Partial<MemoryFile>;
      if (parsed.version !== 1 || typeof parsed.networks !== 'object' || parsed.networks === null)
        throw new Error();
      const networks: MemoryFile['networks'] = {};
      for (const [k, v] of Object.entries(parsed.networks)) {
        if (/^[0-9a-f]{16}$|^none$/.test(k) && v && (STREAM_ORDER as readonly string[]).includes(v.transport))
          networks[k] = { transport: v.transport, at: String(v.at) };
      }
      return { version: 1, networks };
    } catch {
      return { version: 1, networks: {} };
    }
  }

  async currentKey(): Promise<string> {
    try {
      return networkKey(await this.readRoutes());
    } catch {
      return 'none';
    }
  }

  async recall(): Promise<AutoTransport | null> {
    const key = await this.currentKey();
    return (await this.load()).networks[key]?.transport ?? null;
  }

  async remember(transport: AutoTransport, now = new Date()): Promise<void> {
    const key = await this.currentKey();
    const data = await this.load();
    if (data.networks[key]?.transport === transport) return;
    data.networks[key] = { transport, at: now.toISOString() };
    const keys = Object.keys(data.networks).sort((a, b) =>
      data.networks[a]!.at < data.networks[b]!.at ? -1 : 1,
    );
    while (keys.length > MAX_NETWORKS) delete data.networks[keys.shift()!];
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.file);
  }
}
