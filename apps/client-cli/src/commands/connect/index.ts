/**
 * `vpnctl connect`: checks (privileges, a crashed predecessor, a running connection), asks the
 * controller (device, node, ticket), then runs the connection (connection/connection.ts) in the
 * foreground with a live status line, or detached in the background once connected.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import path from 'node:path';
import { bool, list, str, type Command, type ParsedArgs } from '../../command.js';
import { Connection, type ConnectRequest, type ConnectionUi } from '../../connection/connection.js';
import { acquireConnectionLock } from '../../connection/lock.js';
import { statusLine, type ConnectionStatus } from '../../connection/status.js';
import type { CliContext } from '../../context.js';
import { ensurePrivateDir } from '../../config/files.js';
import { writeJson } from '../../output/format.js';
import { CLI_ERROR_CODES, UsageError, UserError } from '../../errors.js';
import { parsePrefix, type Prefix } from '../../system/cidr.js';
import { DEFAULT_RESOLV_CONF } from '../../system/dns.js';
import { requireNetAdmin } from '../../system/privileges.js';
import { REGION_PATTERN } from '../nodes/index.js';
import { recoverAfterCrash } from '../disconnect/index.js';
import { spec } from './command.js';
import { parseFrontOptions } from '../../connection/transports/front-options.js';

const NODE_ID = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

function envMs(ctx: CliContext, name: string): number | undefined {
  const v = ctx.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 100 || n > 600_000)
    throw new UsageError(`${name} must be milliseconds (100..600000)`);
  return n;
}

export function parseConnectArgs(args: ParsedArgs, ctx: CliContext): ConnectRequest {
  const target = args.positionals[0]!;
  if (target !== 'auto' && !NODE_ID.test(target))
    throw new UsageError(`'${target}' is not a node id (see \`vpnctl nodes\`) or 'auto'`);
  const region = str(args, 'region');
  if (region !== undefined) {
    if (target !== 'auto') throw new UsageError("--region only applies to 'vpnctl connect auto'");
    if (!REGION_PATTERN.test(region))
      throw new UsageError(`--region must be a region slug such as eu-central (got '${region}')`);
  }
  const split: Prefix[] = [];
  for (const text of list(args, 'split')) {
    const r = parsePrefix(text);
    if (!r.ok) throw new UsageError(`--split: ${r.error}`);
    if (r.prefix.length === 0)
      throw new UsageError(`--split ${text} would route everything: leave out --split for a full tunnel`);
    if (split.some((p) => p.text === r.prefix.text))
      throw new UsageError(`--split ${r.prefix.text} is given twice; give each prefix once`);
    split.push(r.prefix);
  }
  const front = parseFrontOptions((name) => str(args, name), ctx.env);
  const transport = (str(args, 'transport') ?? 'auto') as ConnectRequest['transport'];
  if ((transport === 'tls' || transport === 'wss') && front.trust === null)
    throw new UsageError(
      `--transport ${transport} needs the node certificate's --tls-pin SHA256 (or --tls-ca FILE): vpnctl never connects unverified`,
    );
  const udpFallbackMs = envMs(ctx, 'CORRIDOR_UDP_FALLBACK_MS');
  const handshakeTimeoutMs = envMs(ctx, 'CORRIDOR_HANDSHAKE_TIMEOUT_MS');
  return {
    target,
    region,
    transport,
    front,
    split,
    killSwitch: bool(args, 'kill-switch'),
    dns: !bool(args, 'no-dns'),
    resolvConf: resolvConfPath(args, ctx),
    ...(udpFallbackMs !== undefined ? { udpFallbackMs } : {}),
    ...(handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs } : {}),
  };
}

/**
 * The resolv.conf to manage. vpnctl runs as root and truncates this file, so it must be a file
 * named resolv.conf (tests point at /etc/netns/<ns>/resolv.conf), never just any path.
 */
function resolvConfPath(args: ParsedArgs, ctx: CliContext): string {
  const flag = str(args, 'resolv-conf');
  const env = ctx.env.CORRIDOR_RESOLV_CONF || undefined;
  const value = flag ?? env ?? DEFAULT_RESOLV_CONF;
  if (!path.isAbsolute(value) || path.basename(value) !== 'resolv.conf') {
    throw new UsageError(
      `${flag !== undefined ? '--resolv-conf' : 'CORRIDOR_RESOLV_CONF'} must be the absolute path of a file named resolv.conf (got '${value}')`,
    );
  }
  return path.normalize(value);
}

/** The argv of this connect without --detach, for the background process. */
function childArgv(req: ConnectRequest, args: ParsedArgs): string[] {
  const a = ['connect', req.target];
  if (req.region) a.push('--region', req.region);
  a.push('--transport', req.transport);
  for (const name of ['proxy', 'tls-pin', 'tls-ca', 'sni', 'tls-port', 'wss-path', 'padding']) {
    const v = str(args, name);
    if (v !== undefined) a.push(`--${name}`, v);
  }
  for (const p of req.split) a.push('--split', p.text);
  if (req.killSwitch) a.push('--kill-switch');
  if (!req.dns) a.push('--no-dns');
  a.push('--resolv-conf', req.resolvConf);
  if (bool(args, 'debug')) a.push('--debug');
  return a;
}

type ChildMessage =
  | { type: 'connected'; status: ConnectionStatus }
  | { type: 'failed'; error: { code: string; message: string; hint: string | null } };

/** The background connection's log: appended to, never through a symbolic link (root writes it). */
function openLog(file: string): number {
  try {
    return openSync(
      file,
      constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new UserError(
        CLI_ERROR_CODES.CONFIG,
        `${file} is a symbolic link; vpnctl writes its log only to a regular file`,
        `remove it (rm ${file}) and connect again`,
      );
    }
    throw e;
  }
}

async function detach(ctx: CliContext, req: ConnectRequest, args: ParsedArgs): Promise<number> {
  await ensurePrivateDir(ctx.paths.stateDir);
  const log = openLog(ctx.paths.logFile);
  const [cmd, ...pre] = ctx.selfCommand;
  const child = spawn(cmd!, [...pre, ...childArgv(req, args)], {
    detached: true,
    stdio: ['ignore', log, log, 'ipc'],
    env: { ...ctx.env, VPNCTL_DETACHED: '1' },
  });
  closeSync(log);
  const message = await new Promise<ChildMessage | { type: 'exit'; code: number | null }>((resolve) => {
    child.once('message', (m) => resolve(m as ChildMessage));
    child.once('exit', (code) => resolve({ type: 'exit', code }));
    child.once('error', () => resolve({ type: 'exit', code: null }));
  });
  child.removeAllListeners();
  if (child.connected) child.disconnect();
  child.unref();
  if (message.type === 'connected') {
    const s = message.status;
    if (bool(args, 'json')) writeJson(ctx.stdout, s);
    ctx.say(
      `Connected to ${s.node.id} over ${s.transport?.toUpperCase()} as ${s.address.ipv4}; running in the background (pid ${s.pid}).\n` +
        `Log: ${ctx.paths.logFile}. See it with \`vpnctl status\`, stop it with \`vpnctl disconnect\`.`,
    );
    return 0;
  }
  if (message.type === 'failed')
    throw new UserError(message.error.code, message.error.message, message.error.hint ?? undefined);
  throw new UserError(
    CLI_ERROR_CODES.SYSTEM,
    `the background connection exited before connecting (exit code ${message.code})`,
    `see its log: ${ctx.paths.logFile}`,
  );
}

/**
 * The background process's one message to the `vpnctl connect --detach` that started it, which may
 * be gone by now (Ctrl-C while it waited): without a callback, a send on the closed channel is an
 * 'error' event on `process` — an uncaught exception that killed the connection right after it
 * came up, leaving routes, DNS and kill switch to the next start's crash recovery.
 */
function tellParent(message: ChildMessage): void {
  if (!process.connected || typeof process.send !== 'function') return;
  process.send(message, undefined, {}, () => {
    if (process.connected) process.disconnect();
  });
}

class TerminalUi implements ConnectionUi {
  private live = false;
  private last: ConnectionStatus | undefined;
  constructor(
    private readonly ctx: CliContext,
    private readonly liveLine: boolean,
  ) {}
  note(text: string): void {
    if (this.live) this.ctx.stderr.write('\r\x1b[K');
    const stamp = this.liveLine ? '' : `${new Date().toISOString()} `;
    this.ctx.stderr.write(`${stamp}${text}\n`);
    if (this.live && this.last) this.ctx.stderr.write(statusLine(this.last));
  }
  tick(status: ConnectionStatus): void {
    this.last = status;
    if (!this.liveLine) return;
    this.live = true;
    this.ctx.stderr.write(`\r\x1b[K${statusLine(status)}`);
  }
  end(): void {
    if (this.live) this.ctx.stderr.write('\r\x1b[K');
    this.live = false;
  }
}

export const connectCommand: Command = {
  spec,
  async run(args, ctx) {
    const req = parseConnectArgs(args, ctx);
    const detachedChild = ctx.env.VPNCTL_DETACHED === '1' && typeof process.send === 'function';
    try {
      requireNetAdmin('vpnctl connect');
      if (bool(args, 'detach') && !detachedChild) return await detach(ctx, req, args);
      await recoverAfterCrash(ctx);
      const release = await acquireConnectionLock(ctx.paths.connectionLock);
      try {
        return await runForeground(ctx, req, detachedChild, bool(args, 'json'));
      } finally {
        await release();
      }
    } catch (e) {
      if (detachedChild && e instanceof UserError) {
        tellParent({ type: 'failed', error: e.toJSON() });
      }
      throw e;
    }
  },
};

async function runForeground(
  ctx: CliContext,
  req: ConnectRequest,
  detachedChild: boolean,
  json: boolean,
): Promise<number> {
  const ui = new TerminalUi(ctx, ctx.interactive && !detachedChild);
  const connection = await Connection.prepare(ctx, req, ui);
  let signal: NodeJS.Signals | undefined;
  const onSignal = (s: NodeJS.Signals) => {
    signal = s;
    ui.end();
    ui.note(`${s === 'SIGINT' ? 'Ctrl-C' : s}: disconnecting and restoring the network settings...`);
    void connection.shutdown(s);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    await connection.start();
    const s = connection.status();
    ui.note(
      `Connected to ${s.node.id} over ${s.transport?.toUpperCase()}: ${s.address.ipv4}${s.address.ipv6 ? ` ${s.address.ipv6}` : ''} on ${s.interface}, ` +
        `${s.routing.mode === 'full' ? 'all traffic' : `only ${s.routing.routes.join(', ')}`} through the tunnel` +
        `${s.routing.ipv6 === 'blocked' ? ', IPv6 blocked (the node offers none)' : ''}${s.dns?.length ? `, DNS ${s.dns.join(', ')}` : ''}.` +
        (detachedChild ? '' : ' Ctrl-C disconnects.'),
    );
    if (json && !detachedChild) ctx.stdout.write(JSON.stringify(s) + '\n');
    if (detachedChild) {
      tellParent({ type: 'connected', status: s });
    }
    await connection.closed;
    ui.end();
    ui.note(`Disconnected from ${s.node.id}; routes, DNS and firewall restored.`);
    return 0;
  } catch (e) {
    ui.end();
    if (signal) {
      await connection.closed;
      ui.note('Cancelled; nothing was left changed.');
      return 1;
    }
    throw e;
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}
