/**
 * Local status socket: a Unix socket (mode 0600, in the 0700 data directory) that answers one JSON
 * status document per connection and closes. `corridor-node status` reads it. Only the agent's user
 * (root) can connect; nothing secret is in the document (short key forms, ids, counters).
 */
import { chmodSync, lstatSync, rmSync } from 'node:fs';
import net from 'node:net';

export async function serveStatus(path: string, status: () => unknown): Promise<net.Server> {
  // A stale socket from a crashed run is replaced; anything else at the path is left alone.
  let existing: ReturnType<typeof lstatSync> | undefined;
  try {
    existing = lstatSync(path);
  } catch {
    existing = undefined;
  }
  if (existing !== undefined) {
    if (!existing.isSocket()) {
      throw new Error(
        `${path} exists and is not a socket; refusing to replace it (hint: fix --status-socket, or move that file away)`,
      );
    }
    rmSync(path, { force: true });
  }
  const server = net.createServer((conn) => {
    let body: string;
    try {
      body = JSON.stringify(status());
    } catch (err) {
      body = JSON.stringify({ error: String(err) });
    }
    conn.end(body + '\n');
  });
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  chmodSync(path, 0o600);
  return server;
}

/** Reads the status document; rejects with a clear error when the agent is not running. */
export function queryStatus(path: string, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(path);
    let text = '';
    const t = setTimeout(() => conn.destroy(new Error('the status socket did not answer')), timeoutMs);
    conn.on('data', (c: Buffer) => (text += c.toString('utf8')));
    conn.on('end', () => {
      clearTimeout(t);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new Error('the status socket sent something that is not JSON'));
      }
    });
    conn.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(t);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(
          new Error(
            `no node agent is running (nothing listens on ${path}); start it with \`corridor-node run\``,
          ),
        );
      } else if (err.code === 'EACCES') {
        reject(new Error(`permission denied on ${path}: run as the agent's user (root)`));
      } else reject(err);
    });
  });
}
