/**
 * `vpnctl proxy`: the rootless mode. Checks the listen addresses and credentials, asks the
 * controller (device, node, ticket) exactly as `connect` does, then runs the proxy session
 * (proxy/proxy-session.ts) in the foreground until Ctrl-C, SIGTERM or `vpnctl disconnect`.
 */
import { bool, str, type Command, type ParsedArgs } from '../../command.js';
import type { ConnectionUi } from '../../connection/connection.js';
import { acquireConnectionLock } from '../../connection/lock.js';
import type { ConnectionStatus } from '../../connection/status.js';
import type { CliContext } from '../../context.js';
import { CLI_ERROR_CODES, UsageError, UserError } from '../../errors.js';
import { isLoopback, parseListenAddress, type ListenAddress } from '../../proxy/listeners.js';
import type { ProxyAuth } from '../../proxy/proxy-core.js';
import { ProxySession, type ProxyRequest } from '../../proxy/proxy-session.js';
import { isProxyStatus, proxyStatusLine } from '../../proxy/proxy-status.js';
import { REGION_PATTERN } from '../nodes/index.js';
import { DEFAULT_HTTP, DEFAULT_SOCKS, spec } from './command.js';

const NODE_ID = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

function envMs(ctx: CliContext, name: string): number | undefined {
  const v = ctx.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 100 || n > 600_000)
    throw new UsageError(`${name} must be milliseconds (100..600000)`);
  return n;
}

function listenOption(
  args: ParsedArgs,
  name: 'socks' | 'http',
  fallback: string | null,
): ListenAddress | null {
  const v = str(args, name) ?? fallback;
  if (v === null || v === 'off') return null;
  return parseListenAddress(`--${name}`, v);
}

export function parseProxyArgs(args: ParsedArgs, ctx: CliContext): ProxyRequest {
  const target = args.positionals[0]!;
  if (target !== 'auto' && !NODE_ID.test(target))
    throw new UsageError(`'${target}' is not a node id (see \`vpnctl nodes\`) or 'auto'`);
  const region = str(args, 'region');
  if (region !== undefined) {
    if (target !== 'auto') throw new UsageError("--region only applies to 'vpnctl proxy auto'");
    if (!REGION_PATTERN.test(region))
      throw new UsageError(`--region must be a region slug such as eu-central (got '${region}')`);
  }
  const neither = str(args, 'socks') === undefined && str(args, 'http') === undefined;
  const socks = listenOption(args, 'socks', neither ? DEFAULT_SOCKS : null);
  const http = listenOption(args, 'http', neither ? DEFAULT_HTTP : null);
  if (socks === null && http === null)
    throw new UsageError('--socks off and --http off leave nothing to run');

  const user = str(args, 'user') ?? (ctx.env.CORRIDOR_PROXY_USER || undefined);
  let auth: ProxyAuth | null = null;
  if (user !== undefined) {
    if (user.length === 0 || Buffer.byteLength(user) > 255 || /[:\0]/.test(user)) {
      throw new UsageError('--user must be 1..255 bytes without ":"');
    }
    const password = ctx.env.CORRIDOR_PROXY_PASSWORD ?? '';
    if (password.length === 0 || Buffer.byteLength(password) > 255) {
      throw new UserError(
        CLI_ERROR_CODES.INPUT,
        '--user needs a password of 1..255 bytes in $CORRIDOR_PROXY_PASSWORD',
        'export CORRIDOR_PROXY_PASSWORD=... (an environment variable, so it does not show in `ps`)',
      );
    }
    auth = { username: user, password };
  }
  const allowRemote = bool(args, 'allow-remote');
  for (const [flag, a] of [
    ['--socks', socks],
    ['--http', http],
  ] as const) {
    if (a === null || isLoopback(a.host)) continue;
    if (!allowRemote) {
      throw new UserError(
        CLI_ERROR_CODES.PROXY_INSECURE,
        `${flag} ${a.text} is not a loopback address: anyone who can reach it could use your tunnel`,
        `listen on 127.0.0.1 or ::1, or add --allow-remote together with --user (and $CORRIDOR_PROXY_PASSWORD)`,
      );
    }
    if (auth === null) {
      throw new UserError(
        CLI_ERROR_CODES.PROXY_INSECURE,
        `--allow-remote without credentials would run an open proxy on ${a.text}`,
        'add --user USER and set $CORRIDOR_PROXY_PASSWORD',
      );
    }
  }
  const udpFallbackMs = envMs(ctx, 'CORRIDOR_UDP_FALLBACK_MS');
  const handshakeTimeoutMs = envMs(ctx, 'CORRIDOR_HANDSHAKE_TIMEOUT_MS');
  return {
    target,
    region,
    transport: (str(args, 'transport') ?? 'auto') as ProxyRequest['transport'],
    socks,
    http,
    auth,
    ...(udpFallbackMs !== undefined ? { udpFallbackMs } : {}),
    ...(handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs } : {}),
  };
}

class ProxyUi implements ConnectionUi {
  private live = false;
  private last: ConnectionStatus | undefined;
  constructor(
    private readonly ctx: CliContext,
    private readonly liveLine: boolean,
  ) {}
  private line(s: ConnectionStatus): string {
    return isProxyStatus(s) ? proxyStatusLine(s) : '';
  }
  note(text: string): void {
    if (this.live) this.ctx.stderr.write('\r\x1b[K');
    const stamp = this.liveLine ? '' : `${new Date().toISOString()} `;
    this.ctx.stderr.write(`${stamp}${text}\n`);
    if (this.live && this.last) this.ctx.stderr.write(this.line(this.last));
  }
  tick(status: ConnectionStatus): void {
    this.last = status;
    if (!this.liveLine) return;
    this.live = true;
    this.ctx.stderr.write(`\r\x1b[K${this.line(status)}`);
  }
  end(): void {
    if (this.live) this.ctx.stderr.write('\r\x1b[K');
    this.live = false;
  }
}

export const proxyCommand: Command = {
  spec,
  async run(args, ctx) {
    const req = parseProxyArgs(args, ctx);
    const release = await acquireConnectionLock(ctx.paths.connectionLock);
    try {
      return await runProxy(ctx, req, bool(args, 'json'));
    } finally {
      await release();
    }
  },
};

async function runProxy(ctx: CliContext, req: ProxyRequest, json: boolean): Promise<number> {
  const ui = new ProxyUi(ctx, ctx.interactive);
  const session = await ProxySession.prepare(ctx, req, ui);
  let signal: NodeJS.Signals | undefined;
  const onSignal = (s: NodeJS.Signals) => {
    signal = s;
    ui.end();
    ui.note(`${s === 'SIGINT' ? 'Ctrl-C' : s}: stopping the proxy...`);
    void session.shutdown(s);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    await session.start();
    const s = session.status();
    ui.note(
      `Connected to ${s.node.id} over ${s.transport?.toUpperCase()} as ${s.address.ipv4}${s.address.ipv6 ? ` ${s.address.ipv6}` : ''}; ` +
        [
          s.proxy.socks ? `SOCKS5 proxy on ${s.proxy.socks}` : '',
          s.proxy.http ? `HTTP proxy on ${s.proxy.http}` : '',
        ]
          .filter(Boolean)
          .join(', ') +
        `${s.dns?.length ? `, names resolved by ${s.dns.join(', ')} through the tunnel` : ''}. Ctrl-C stops it.`,
    );
    if (json) ctx.stdout.write(JSON.stringify(s) + '\n');
    await session.closed;
    ui.end();
    ui.note(`Proxy through ${s.node.id} stopped.`);
    return 0;
  } catch (e) {
    ui.end();
    if (signal) {
      await session.closed;
      ui.note('Cancelled.');
      return 1;
    }
    throw e;
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}
