// A long-running process inside a lab host. Contract:
// - It is the leader of its own process group (spawned detached): stop() and the lab's teardown signal
//   the whole group, so whatever it forks goes with it. Anything that escapes the group is still killed
//   at teardown, because the lab kills every process left inside its namespaces.
// - Output: kept in memory (the last MAX_KEPT bytes per stream, and the last MAX_LINES lines) and written
//   to <lab dir>/logs/<host>.<name>.log; waitFor() also looks at lines that arrived before it was called.
// - After exit, write() is a no-op and stop() resolves at once with the exit status.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { LabError } from './errors.js';
import { quote } from './exec.js';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface OutputLine {
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface SpawnOptions {
  /** Short name for logs and messages (default: the program's name). */
  name?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface StopOptions {
  /** First signal (default SIGTERM); SIGKILL follows after graceMs. */
  signal?: NodeJS.Signals;
  graceMs?: number;
}

const MAX_KEPT = 4 * 1024 * 1024;
const MAX_LINES = 20_000;

export class LabProcess {
  readonly name: string;
  readonly argv: readonly string[];
  readonly pid: number;
  /** Resolves when the process has exited and its output is closed. */
  readonly exited: Promise<ExitStatus>;
  readonly child: ChildProcessWithoutNullStreams;

  #status: ExitStatus | undefined;
  #out = { stdout: '', stderr: '' };
  #partial = { stdout: '', stderr: '' };
  #lines: OutputLine[] = [];
  #listeners = new Set<(line: OutputLine) => void>();
  #log: WriteStream | undefined;

  /** Use LabHost.spawn(); `argv` is the full command including `ip netns exec <ns>`. */
  constructor(
    argv: readonly string[],
    options: SpawnOptions & { logFile?: string; displayArgv?: readonly string[] },
  ) {
    const [file, ...args] = argv;
    if (!file) throw new LabError('CORRIDOR_ERR_LAB_BAD_SPEC', 'empty command');
    this.argv = options.displayArgv ?? argv;
    this.name = options.name ?? basename(this.argv[0] ?? file);
    this.child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    this.child.on('error', () => undefined); // a failed spawn also ends in 'close' (exit code -2)
    if (this.child.pid === undefined) {
      throw new LabError('CORRIDOR_ERR_LAB_COMMAND_FAILED', `cannot start ${quote(this.argv)}`);
    }
    this.pid = this.child.pid;
    if (options.logFile) {
      this.#log = createWriteStream(options.logFile, { flags: 'a', mode: 0o600 });
      this.#log.on('error', () => (this.#log = undefined));
      this.#log.write(`$ ${quote(this.argv)}\n`);
    }
    this.child.stdin.on('error', () => undefined);
    this.child.stdout.on('data', (d: Buffer) => this.#onData('stdout', d));
    this.child.stderr.on('data', (d: Buffer) => this.#onData('stderr', d));
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        for (const stream of ['stdout', 'stderr'] as const) {
          if (this.#partial[stream]) this.#emit({ stream, text: this.#partial[stream] });
          this.#partial[stream] = '';
        }
        this.#status = { code, signal };
        this.#log?.end(`[exit code=${code} signal=${signal}]\n`);
        this.#log = undefined;
        resolve(this.#status);
      });
    });
  }

  get running(): boolean {
    return this.#status === undefined;
  }

  get exitStatus(): ExitStatus | undefined {
    return this.#status;
  }

  stdout(): string {
    return this.#out.stdout;
  }

  stderr(): string {
    return this.#out.stderr;
  }

  /** Lines received so far (both streams, in arrival order; the last MAX_LINES). */
  lines(): readonly OutputLine[] {
    return this.#lines;
  }

  /** Calls fn for every later complete line; returns the unsubscribe function. */
  onLine(fn: (line: OutputLine) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * Resolves with the first line (already received or still to come) that matches; rejects when the
   * process exits first or after timeoutMs, with the output in the message.
   */
  waitFor(
    pattern: RegExp | string,
    options: { timeoutMs?: number; stream?: 'stdout' | 'stderr' } = {},
  ): Promise<string> {
    const test = (l: OutputLine) =>
      (!options.stream || l.stream === options.stream) &&
      (typeof pattern === 'string' ? l.text.includes(pattern) : pattern.test(l.text));
    const seen = this.#lines.find(test);
    if (seen) return Promise.resolve(seen.text);
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        off();
        settle();
      };
      const off = this.onLine((l) => {
        if (test(l)) finish(() => resolve(l.text));
      });
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new LabError(
                'CORRIDOR_ERR_LAB_TIMEOUT',
                `${this.name} (pid ${this.pid}) printed no line matching ${String(pattern)} within ${timeoutMs} ms${this.#tail()}`,
              ),
            ),
          ),
        timeoutMs,
      );
      // The close handler emits the last partial lines before `exited` resolves, so a match there wins.
      void this.exited.then((s) =>
        finish(() =>
          reject(
            new LabError(
              'CORRIDOR_ERR_LAB_SERVICE_FAILED',
              `${this.name} (pid ${this.pid}) exited (code ${s.code}, signal ${s.signal}) before printing ${String(pattern)}${this.#tail()}`,
            ),
          ),
        ),
      );
    });
  }

  /** Writes to the process's stdin (ignored after exit). */
  write(data: string | Buffer): void {
    if (this.running && this.child.stdin.writable) this.child.stdin.write(data);
  }

  /** Sends a signal to the whole process group. */
  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      // the group is gone
    }
  }

  /** Signals the group, escalates to SIGKILL after graceMs (default 3 s); resolves with the exit status. */
  async stop(options: StopOptions = {}): Promise<ExitStatus> {
    if (!this.running) return this.#status as ExitStatus;
    this.signal(options.signal ?? 'SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), options.graceMs ?? 3000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  #tail(): string {
    const lines = this.#lines.slice(-30).map((l) => `    ${l.stream === 'stderr' ? '!' : '|'} ${l.text}`);
    return lines.length ? `\n  last output:\n${lines.join('\n')}` : '\n  (no output)';
  }

  #onData(stream: 'stdout' | 'stderr', d: Buffer): void {
    const text = d.toString('utf8');
    this.#log?.write(stream === 'stderr' ? text.replace(/^(?=.)/gm, '! ') : text);
    const kept = this.#out[stream] + text;
    this.#out[stream] = kept.length > MAX_KEPT ? kept.slice(-MAX_KEPT) : kept;
    const parts = (this.#partial[stream] + text).split('\n');
    this.#partial[stream] = parts.pop() ?? '';
    for (const p of parts) this.#emit({ stream, text: p.replace(/\r$/, '') });
  }

  #emit(line: OutputLine): void {
    this.#lines.push(line);
    if (this.#lines.length > MAX_LINES) this.#lines.splice(0, this.#lines.length - MAX_LINES);
    for (const fn of [...this.#listeners]) fn(line);
  }
}

function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}
