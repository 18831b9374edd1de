/**
 * Node agent configuration from the environment. Every problem is reported at once, each naming the
 * variable and what it expects, so an operator fixes a bad deployment in one pass.
 */
export interface AgentConfig {
  /** Controller base URL; must be https. */
  readonly controllerUrl: URL;
  /** Directory for the node key, credential and caches (files written 0600). */
  readonly dataDir: string;
  readonly udpPort: number;
  readonly tcpPort: number;
  readonly tunName: string;
  /** Node virtual address and prefix on the TUN, e.g. 10.8.0.1/24. */
  readonly tunAddress: { readonly address: string; readonly prefix: number };
  readonly mtu: number;
}

export type ConfigResult = { ok: true; config: AgentConfig } | { ok: false; problems: string[] };

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function loadConfig(env: Readonly<Record<string, string | undefined>>): ConfigResult {
  const problems: string[] = [];

  const port = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      problems.push(`${name}: expected a port 1-65535, got '${raw}'`);
    return n;
  };

  let controllerUrl: URL | undefined;
  const rawUrl = env.CORRIDOR_CONTROLLER_URL;
  if (!rawUrl) {
    problems.push('CORRIDOR_CONTROLLER_URL: required (e.g. https://api.example.com:8443)');
  } else {
    try {
      controllerUrl = new URL(rawUrl);
      if (controllerUrl.protocol !== 'https:') {
        problems.push(
          `CORRIDOR_CONTROLLER_URL: must use https (got ${controllerUrl.protocol.replace(':', '')})`,
        );
      }
    } catch {
      problems.push(`CORRIDOR_CONTROLLER_URL: not a valid URL: '${rawUrl}'`);
    }
  }

  const tunName = env.CORRIDOR_TUN_NAME ?? 'corridor0';
  if (!IFNAME.test(tunName)) {
    problems.push(`CORRIDOR_TUN_NAME: 1-15 characters of [A-Za-z0-9_.-], got '${tunName}'`);
  }

  const rawTunAddress = env.CORRIDOR_TUN_ADDRESS ?? '10.8.0.1/24';
  const [address = '', prefixText = ''] = rawTunAddress.split('/');
  const prefix = Number(prefixText);
  if (!IPV4.test(address) || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) {
    problems.push(`CORRIDOR_TUN_ADDRESS: expected IPv4/prefix with prefix 8-30, got '${rawTunAddress}'`);
  }

  const mtuRaw = env.CORRIDOR_MTU ?? '1420';
  const mtu = Number(mtuRaw);
  if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 9000) {
    problems.push(`CORRIDOR_MTU: expected an integer 1280-9000, got '${mtuRaw}'`);
  }

  const udpPort = port('CORRIDOR_UDP_PORT', 51820);
  const tcpPort = port('CORRIDOR_TCP_PORT', 443);

  if (problems.length > 0 || !controllerUrl) return { ok: false, problems };
  return {
    ok: true,
    config: {
      controllerUrl,
      dataDir: env.CORRIDOR_DATA_DIR ?? '/var/lib/corridor-node',
      udpPort,
      tcpPort,
      tunName,
      tunAddress: { address, prefix },
      mtu,
    },
  };
}
