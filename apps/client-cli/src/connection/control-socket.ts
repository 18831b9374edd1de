/**
 * The local control socket of a running connection: a Unix socket (mode 0600, in a 0700 directory)
 * speaking one JSON line per request and per answer.
 *
 *   {"command":"status"}      -> ConnectionStatus (see status.ts)
 *   {"command":"disconnect"}  -> {"ok":true}; the connection then tears down and the process exits
 *
 * Only the user who started the connection (root, usually) can open it. Requests are bounded (4 KiB)
 * and anything unparseable gets {"error": "..."} and the connection closed.
 */
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ensurePrivateDir } from '../config/files.js';
import { CLI_ERROR_CODES, UserError } from '../errors.js';

const MAX_REQUEST_BYTES = 4096;

export type ControlRequest = { command: 'status' } | { command: 'disconnect' };

export interface ControlHandlers {
  status(): unknown;
  disconnect(): void;
}

export class ControlServer {
  private constructor(
    private readonly server: net.Server,
    readonly path: string,
  ) {}

  static async listen(socketPath: string, handlers: ControlHandlers): Promise<ControlServer> {
    await ensurePrivateDir(path.dirname(socketPath));
    // A socket file left by a crashed connection: remove it if nobody answers on it.
    if (await isListening(socketPath)) {
      throw new UserError(
        CLI_ERROR_CODES.ALREADY_CONNECTED,
        'a connection is already running',
        'see it with `vpnctl status`; stop it with `vpnctl disconnect`',
      );
    }
    await fs.rm(socketPath, { force: true });
    const server = net.createServer((sock) => {
      let buf = '';
      sock.setEncoding('utf8');
      sock.setTimeout(5_000, () => sock.destroy());
      sock.on('error', () => undefined);
      sock.on('data', (chunk: string) => {
        buf += chunk;
        if (buf.length > MAX_REQUEST_BYTES) {
          sock.end(JSON.stringify({ error: 'request too large' }) + '\n');
          return;
        }
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        let req: ControlRequest | undefined;
        try {
          req = JSON.parse(buf.slice(0, nl)) as ControlRequest;
        } catch {
          req = undefined;
        }
        if (req?.command === 'status') sock.end(JSON.stringify(handlers.status()) + '\n');
        else if (req?.command === 'disconnect') {
          sock.end(JSON.stringify({ ok: true }) + '\n');
          handlers.disconnect();
        } else sock.end(JSON.stringify({ error: 'unknown command' }) + '\n');
      });
    });
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(old);
    }
    await fs.chmod(socketPath, 0o600);
    server.unref();
    return new ControlServer(server, socketPath);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await fs.rm(this.path, { force: true });
  }
}

function isListening(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Sends one request to the running connection. Resolves undefined when no connection is running
 * (no socket, or nobody listening on it).
 */
export function controlRequest(socketPath: string, req: ControlRequest, timeoutMs = 5_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        new UserError(
          CLI_ERROR_CODES.SYSTEM,
          `the running connection did not answer on ${socketPath}`,
          'it may be stuck; check its log (vpnctl.log in the state dir) or end it with kill',
        ),
      );
    }, timeoutMs);
    s.setEncoding('utf8');
    s.once('connect', () => s.write(JSON.stringify(req) + '\n'));
    s.on('data', (c: string) => (buf += c));
    s.once('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf.trim()));
      } catch {
        reject(new UserError(CLI_ERROR_CODES.SYSTEM, `unexpected answer on ${socketPath}`, undefined));
      }
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') resolve(undefined);
      else if (e.code === 'EACCES' || e.code === 'EPERM') {
        reject(
          new UserError(
            CLI_ERROR_CODES.NOT_PERMITTED,
            `not allowed to talk to the running connection (${socketPath} belongs to another user)`,
            'run the command with sudo, like the connection was started',
          ),
        );
      } else reject(e);
    });
  });
}
