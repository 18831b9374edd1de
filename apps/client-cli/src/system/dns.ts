/**
 * DNS for a connection: resolv.conf (path configurable: `--resolv-conf` / CORRIDOR_RESOLV_CONF,
 * default /etc/resolv.conf) lists only the servers the node pushed, so queries go nowhere else.
 *
 * The file is rewritten IN PLACE (same inode): /etc/resolv.conf is often a bind mount (`ip netns
 * exec` mounts /etc/netns/<ns>/resolv.conf over it) and a rename onto a mount point fails. A symbolic
 * link (systemd-resolved's stub file) is not followed: the link itself is replaced by a regular file
 * and recreated on restore, so the link target (someone else's file) is never written.
 *
 * The change is journaled before the write (journal.ts). Restore puts back the original bytes only
 * while the file still holds what vpnctl wrote; if someone else changed it meanwhile, theirs stays.
 * While connected, `DnsGuard.check()` rewrites the file if something (a DHCP client) replaced it,
 * remembering that newer content as the one to restore.
 */
import { promises as fs } from 'node:fs';
import { CLI_ERROR_CODES, UserError } from '../errors.js';
import type { Change, Journal } from './journal.js';

export const DEFAULT_RESOLV_CONF = '/etc/resolv.conf';

type DnsChange = Extract<Change, { kind: 'dns' }>;

export function resolvConfContent(servers: readonly string[], nodeId: string): string {
  return [
    `# Written by vpnctl (Corridor VPN) while connected to ${nodeId}.`,
    '# The previous content is restored on disconnect; edits made here now are lost.',
    ...servers.map((s) => `nameserver ${s}`),
    '',
  ].join('\n');
}

async function snapshot(path: string): Promise<{ original: string | null; symlink: string | null }> {
  try {
    const st = await fs.lstat(path);
    if (st.isSymbolicLink()) {
      const target = await fs.readlink(path);
      const content = await fs.readFile(path, 'utf8').catch(() => null);
      return { original: content, symlink: target };
    }
    return { original: await fs.readFile(path, 'utf8'), symlink: null };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { original: null, symlink: null };
    throw e;
  }
}

function dnsError(e: unknown, path: string): UserError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new UserError(
      CLI_ERROR_CODES.NOT_PERMITTED,
      `cannot change the DNS settings in ${path} (${code})`,
      'run vpnctl as root, or connect with --no-dns to keep the current DNS servers',
      { cause: e },
    );
  }
  return new UserError(
    CLI_ERROR_CODES.SYSTEM,
    `cannot change the DNS settings in ${path}: ${(e as Error).message}`,
    undefined,
    { cause: e },
  );
}

async function writeInPlace(path: string, content: string): Promise<void> {
  // 'w' truncates the existing inode (bind mounts keep working); a new file gets 0644 like the system's.
  await fs.writeFile(path, content, { flag: 'w', mode: 0o644 });
}

export class DnsGuard {
  private constructor(
    private readonly journal: Journal,
    private change: DnsChange,
  ) {}

  /** Journals and writes resolv.conf with `servers`. */
  static async apply(
    journal: Journal,
    path: string,
    servers: readonly string[],
    nodeId: string,
  ): Promise<DnsGuard> {
    let snap: Awaited<ReturnType<typeof snapshot>>;
    try {
      snap = await snapshot(path);
    } catch (e) {
      throw dnsError(e, path);
    }
    const change: DnsChange = { kind: 'dns', path, ...snap, written: resolvConfContent(servers, nodeId) };
    await journal.record(change);
    try {
      if (snap.symlink !== null) await fs.unlink(path);
      await writeInPlace(path, change.written);
    } catch (e) {
      await undoDns(change).catch(() => undefined);
      await journal.forget(change);
      throw dnsError(e, path);
    }
    return new DnsGuard(journal, change);
  }

  get path(): string {
    return this.change.path;
  }

  /** Re-asserts our resolv.conf if something replaced it. Returns true when it had to. */
  async check(): Promise<boolean> {
    const now = await snapshot(this.change.path).catch(() => undefined);
    if (now === undefined || (now.symlink === null && now.original === this.change.written)) return false;
    const next: DnsChange = { ...this.change, original: now.original, symlink: now.symlink };
    await this.journal.replace(this.change, next);
    this.change = next;
    if (now.symlink !== null) await fs.unlink(this.change.path);
    await writeInPlace(this.change.path, this.change.written);
    return true;
  }

  get entry(): DnsChange {
    return this.change;
  }
}

/** Restores resolv.conf from a journaled change. 'kept': someone else changed it since; theirs stays. */
export async function undoDns(change: DnsChange): Promise<'restored' | 'kept'> {
  let current: Awaited<ReturnType<typeof snapshot>>;
  try {
    current = await snapshot(change.path);
  } catch {
    return 'kept';
  }
  const ours = current.symlink === null && current.original === change.written;
  const untouched = current.symlink === change.symlink && current.original === change.original; // crash before the write
  if (untouched) return 'restored';
  if (!ours) return 'kept';
  if (change.symlink !== null) {
    await fs.unlink(change.path);
    await fs.symlink(change.symlink, change.path);
  } else if (change.original === null) {
    await fs.unlink(change.path);
  } else {
    await writeInPlace(change.path, change.original);
  }
  return 'restored';
}
