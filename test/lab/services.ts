// Services the lab runs inside its hosts (the resolver, the web hosts), seen from the test: each wraps
// a LabProcess whose stdout carries one JSON event per line (see servers/*.ts for the protocol) and
// keeps those events so tests can ask who queried or requested what.
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LabError } from './errors.js';
import type { LabHost } from './host.js';
import type { LabProcess } from './process.js';

export interface ServiceEvent {
  event: string;
  [key: string]: unknown;
}

/** What every service handle offers. Role start hooks register theirs with host.addService(). */
export interface LabService {
  /** Unique per host, e.g. "http", "dns". */
  readonly kind: string;
  readonly host: LabHost;
  readonly process: LabProcess;
}

/** Node arguments that run one of servers/*.ts from source (tsx's loader, resolved from here). */
export function serverArgv(script: 'dns-server.ts' | 'http-server.ts', config: unknown): string[] {
  const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const file = fileURLToPath(new URL(`./servers/${script}`, import.meta.url));
  return [process.execPath, '--import', loader, file, JSON.stringify(config)];
}

/** Base for services speaking JSON lines on stdout. */
export class JsonLineService implements LabService {
  readonly kind: string;
  readonly host: LabHost;
  readonly process: LabProcess;
  #events: ServiceEvent[] = [];
  #waiters = new Set<(e: ServiceEvent) => void>();

  constructor(kind: string, host: LabHost, proc: LabProcess) {
    this.kind = kind;
    this.host = host;
    this.process = proc;
    const take = (text: string) => {
      if (!text.startsWith('{')) return;
      try {
        const e = JSON.parse(text) as ServiceEvent;
        if (typeof e.event !== 'string') return;
        this.#events.push(e);
        if (this.#events.length > 100_000) this.#events.splice(0, 10_000);
        for (const w of [...this.#waiters]) w(e);
      } catch {
        // not one of ours
      }
    };
    for (const l of proc.lines()) if (l.stream === 'stdout') take(l.text);
    proc.onLine((l) => {
      if (l.stream === 'stdout') take(l.text);
    });
  }

  /** Every event so far (optionally of one kind). */
  events(kind?: string): ServiceEvent[] {
    return kind ? this.#events.filter((e) => e.event === kind) : [...this.#events];
  }

  /** Forgets the events so far (e.g. between test steps). */
  clearEvents(): void {
    this.#events.length = 0;
  }

  /** Resolves with the first event (already seen or coming) that satisfies `match`. */
  waitForEvent(match: (e: ServiceEvent) => boolean, timeoutMs = 10_000): Promise<ServiceEvent> {
    const seen = this.#events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = (e: ServiceEvent) => {
        if (!match(e)) return;
        clearTimeout(timer);
        this.#waiters.delete(w);
        resolve(e);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        reject(
          new LabError(
            'CORRIDOR_ERR_LAB_TIMEOUT',
            `${this.host.name}/${this.kind}: no matching event within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(w);
    });
  }

  /** Waits for the server's {"event":"listening"} line; a server that exits first fails with its output. */
  async ready(timeoutMs = 20_000): Promise<void> {
    await this.process.waitFor(/^\{"event":"listening"/, { timeoutMs, stream: 'stdout' });
  }
}

export interface HttpRequestEvent {
  from: string;
  port: number;
  method: string;
  path: string;
  status: number;
}

/** A web host's HTTP server (echo or region-locked). */
export class HttpService extends JsonLineService {
  readonly port: number;
  readonly mode: 'echo' | 'geo';

  constructor(host: LabHost, proc: LabProcess, port: number, mode: 'echo' | 'geo') {
    super('http', host, proc);
    this.port = port;
    this.mode = mode;
  }

  /** Requests answered so far, oldest first. */
  requests(): HttpRequestEvent[] {
    return this.events('request') as unknown as HttpRequestEvent[];
  }

  /** http://<address>[:port]<path> for the host's IPv4 (default) or IPv6 address. */
  url(path = '/', family: 4 | 6 = 4): string {
    return this.host.url(path, { family, port: this.port });
  }
}

export interface DnsQueryEvent {
  from: string;
  port: number;
  transport: 'udp' | 'tcp';
  name?: string;
  type?: string;
  rcode?: string;
  answers?: number;
  error?: string;
}

export interface DnsRecordSet {
  a?: readonly string[];
  aaaa?: readonly string[];
}

/** The resolver host's DNS server. */
export class DnsService extends JsonLineService {
  readonly zone: string;
  #nextId = 1;

  constructor(host: LabHost, proc: LabProcess, zone: string) {
    super('dns', host, proc);
    this.zone = zone;
  }

  /** Queries received so far (each with the source address that asked), oldest first. */
  queries(): DnsQueryEvent[] {
    return this.events('query') as unknown as DnsQueryEvent[];
  }

  /** Adds or replaces a name's A/AAAA records (names are relative to nothing: give "x.lab"). */
  async set(name: string, records: DnsRecordSet): Promise<void> {
    await this.#command({ cmd: 'set', name, a: records.a ?? [], aaaa: records.aaaa ?? [] });
  }

  async delete(name: string): Promise<void> {
    await this.#command({ cmd: 'delete', name });
  }

  async #command(cmd: Record<string, unknown>): Promise<void> {
    const id = this.#nextId++;
    const answer = this.waitForEvent((e) => (e.event === 'ack' || e.event === 'error') && e.id === id);
    this.process.write(`${JSON.stringify({ ...cmd, id })}\n`);
    const e = await answer;
    if (e.event === 'error') {
      throw new LabError(
        'CORRIDOR_ERR_LAB_BAD_SPEC',
        `resolver refused ${JSON.stringify(cmd)}: ${String(e.message)}`,
      );
    }
  }
}
