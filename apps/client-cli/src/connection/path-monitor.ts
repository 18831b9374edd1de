/**
 * Notices local network changes (addresses, routes, links) with `ip -o monitor`, debounced, so the
 * connection can follow them: re-pin the node's route through the new gateway and move the tunnel
 * (a fresh handshake from the new address; TCP reconnects). Changes made by vpnctl itself also show
 * up here; the handler is cheap and idempotent, so they are harmless.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { IP } from '../system/exec.js';

export class PathMonitor {
  private child: ChildProcess | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly onChange: () => void,
    private readonly debounceMs = 500,
  ) {}

  start(): void {
    if (this.stopped) return;
    const child = spawn(IP, ['-o', 'monitor', 'address', 'route', 'link'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    this.child = child;
    child.on('error', () => undefined); // no `ip`: following changes is best effort
    child.stdout?.on('data', () => this.poke());
    child.on('exit', () => {
      this.child = null;
      if (!this.stopped) setTimeout(() => this.start(), 5_000).unref();
    });
    child.unref();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  }

  poke(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onChange();
    }, this.debounceMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.child?.kill();
    this.child = null;
  }
}
