// One host of the lab: a network namespace with one link to the backbone router. Everything a test
// does "on" a host goes through here: commands and processes inside its namespace (with its own
// /etc/resolv.conf pointing at the lab resolver), HTTP fetches with curl, pings, link rules
// (block/loss) and captures. Contract: a host is usable from createLab()'s resolution until
// lab.down(); after that every method rejects with CORRIDOR_ERR_LAB_CLOSED.
import net from 'node:net';
import path from 'node:path';
import { urlFor } from './addresses.js';
import { Capture, tcpdumpArgv, type CaptureOptions } from './capture.js';
import { LabError } from './errors.js';
import {
  commandFailed,
  netnsArgv,
  runArgv,
  runArgvOk,
  toArgv,
  type Command,
  type ExecOptions,
  type ExecResult,
} from './exec.js';
import {
  buildLinkRules,
  droppedPackets,
  LAB_NFT_TABLE,
  linkChains,
  linkTableScript,
  parseEchoHandles,
  type LinkMatch,
} from './link-rules.js';
import { LabProcess, type SpawnOptions } from './process.js';
import type { LabService } from './services.js';
import type { HostSpec, PlannedHost } from './topology.js';

/** What a host needs from its lab (implemented by Lab). */
export interface LabContext {
  readonly runId: string;
  /** The backbone router's namespace (where the link rules live). */
  readonly routerNs: string;
  readonly dir: string;
  assertOpen(): void;
  /** Records a started process so teardown (and `lab down` after a crash) kills its group. */
  trackProcess(p: LabProcess): void;
  /** A fresh file path in the work dir, e.g. captures/client1-1.pcap. */
  artifactPath(sub: string, stem: string, ext: string): string;
}

export type Family = 4 | 6;

export interface FetchOptions {
  /** Force IPv4 or IPv6 (curl -4 / -6) when the URL has a name. */
  family?: Family;
  /** Whole-transfer limit (default 10 s). */
  timeoutMs?: number;
  /** Connect limit (default: timeoutMs). */
  connectTimeoutMs?: number;
  method?: string;
  /** Request body (sent with --data-binary). */
  body?: string | Buffer;
  headers?: Readonly<Record<string, string>>;
  /** Throw the body away and report only its size and speed (large transfers). */
  discardBody?: boolean;
  /** Use this HTTP proxy (default: none, whatever the environment says). */
  proxy?: string;
  /** CA bundle for https URLs (TLS verification stays on). */
  cacert?: string;
}

export type FetchResult =
  | {
      /** An HTTP response arrived (any status). */
      type: 'response';
      status: number;
      body: string;
      /** The address curl connected to. */
      remoteIp: string;
      bytes: number;
      bytesPerSecond: number;
      connectMs: number;
      totalMs: number;
    }
  | {
      /** No HTTP response: see reason. */
      type: 'error';
      reason: 'timeout' | 'refused' | 'unreachable' | 'dns' | 'reset' | 'empty-reply' | 'other';
      curlExit: number | null;
      message: string;
    };

export interface PingOptions {
  family?: Family;
  count?: number;
  /** Per-reply wait (default 2 s). */
  timeoutMs?: number;
}

export interface Reachability {
  target: string;
  address: string;
  family: Family;
  ok: boolean;
}

const FETCH_MARK = '\n<<corridor-lab-fetch>>';

function curlReason(code: number | null, detail: string): Extract<FetchResult, { type: 'error' }>['reason'] {
  switch (code) {
    case 6:
      return 'dns';
    case 7:
      // curl's own message is the same for both; the errno of the connect (from -v) tells them apart.
      return /Connection refused/i.test(detail) ? 'refused' : 'unreachable';
    case 28:
      return 'timeout';
    case 52:
      return 'empty-reply';
    case 55:
    case 56:
      return 'reset';
    default:
      return 'other';
  }
}

/** The lines of curl's -v output that explain a failure (its error and the connect errno). */
function curlDetail(stderr: string): string {
  const lines = stderr
    .split('\n')
    .filter(
      (l) =>
        /^curl: \(\d+\)/.test(l) || /^\* .*(failed|fail for|refused|unreachable|No route|timed out)/i.test(l),
    );
  return lines.map((l) => l.replace(/^\* /, '')).join('; ');
}

type RouterRun = (argv: readonly string[], input?: string) => Promise<string>;

/** A block or loss rule on a host's link; remove() takes it out (idempotent). */
export class LinkRule {
  readonly host: LabHost;
  readonly description: string;
  /** The nft rules in the backbone namespace (chain names are the router's side of the link). */
  readonly rules: readonly { chain: string; handle: number }[];
  readonly #router: RouterRun;
  #removed = false;

  /** Use LabHost.block() / loss(). */
  constructor(
    host: LabHost,
    description: string,
    rules: { chain: string; handle: number }[],
    router: RouterRun,
  ) {
    this.host = host;
    this.description = description;
    this.rules = rules;
    this.#router = router;
  }

  get active(): boolean {
    return !this.#removed;
  }

  /** Packets this rule has dropped so far. */
  async dropped(): Promise<number> {
    const json = await this.#router(['nft', '-j', 'list', 'table', 'netdev', LAB_NFT_TABLE]);
    return droppedPackets(
      json,
      this.rules.map((r) => r.handle),
    );
  }

  async remove(): Promise<void> {
    if (this.#removed) return;
    this.#removed = true;
    const script = this.rules
      .map((r) => `delete rule netdev ${LAB_NFT_TABLE} ${r.chain} handle ${r.handle}\n`)
      .join('');
    await this.#router(['nft', '-f', '-'], script);
  }
}

export class LabHost {
  readonly spec: HostSpec;
  readonly name: string;
  readonly role: string;
  readonly region: string | undefined;
  /** The network namespace (`ip netns exec <ns> ...`). */
  readonly ns: string;
  /** The host's end of its link to the backbone. */
  readonly iface: string;
  /** The router's end of that link (in the backbone namespace). */
  readonly routerIface: string;
  readonly v4: string;
  readonly v6: string;
  readonly gateway4: string;
  readonly gateway6: string;
  readonly subnet4: string;
  readonly subnet6: string;
  readonly prefix4: number;
  readonly prefix6: number;
  /** <name>.lab */
  readonly dnsName: string;
  /** <name>.lab and its aliases. */
  readonly dnsNames: readonly string[];

  readonly #lab: LabContext;
  readonly #services = new Map<string, LabService>();
  #linkTable: Promise<void> | undefined;
  #ruleSeq = 0;
  #spawnSeq = 0;

  constructor(plan: PlannedHost, lab: LabContext) {
    this.spec = plan.spec;
    this.name = plan.name;
    this.role = plan.role;
    this.region = plan.region;
    this.ns = plan.ns;
    this.iface = plan.iface;
    this.routerIface = plan.routerIface;
    this.v4 = plan.addr.v4;
    this.v6 = plan.addr.v6;
    this.gateway4 = plan.addr.gateway4;
    this.gateway6 = plan.addr.gateway6;
    this.subnet4 = plan.addr.subnet4;
    this.subnet6 = plan.addr.subnet6;
    this.prefix4 = plan.addr.prefix4;
    this.prefix6 = plan.addr.prefix6;
    this.dnsNames = plan.dnsNames;
    this.dnsName = plan.dnsNames[0] as string;
    this.#lab = lab;
  }

  /** The host's address of one family. */
  address(family: Family = 4): string {
    return family === 4 ? this.v4 : this.v6;
  }

  /** A literal URL to this host: http://198.51.100.2/json, http://[2001:db8:100::2]:8080/. */
  url(path = '/', options: { family?: Family; port?: number } = {}): string {
    return urlFor(this.address(options.family ?? 4), path, options.port ?? 80);
  }

  // ---- commands and processes -------------------------------------------------------------------

  /** Runs a command inside the host (string: `sh -c`); resolves with its result whatever the exit code. */
  async exec(cmd: Command, options?: ExecOptions): Promise<ExecResult> {
    this.#lab.assertOpen();
    return runArgv(netnsArgv(this.ns, cmd), options);
  }

  /** Like exec, but rejects with the output unless the command exits 0; resolves with stdout. */
  async run(cmd: Command, options?: ExecOptions): Promise<string> {
    const r = await this.exec(cmd, options);
    if (!r.ok) throw commandFailed({ ...r, command: `[${this.name}] ${r.command}` }, `on ${this.name}`);
    return r.stdout;
  }

  /**
   * Starts a long-running process inside the host, in its own process group; the lab stops it at
   * teardown (and `lab down` kills it after a crash). Its output goes to <lab dir>/logs/.
   */
  spawn(cmd: Command, options: SpawnOptions = {}): LabProcess {
    this.#lab.assertOpen();
    const display = toArgv(cmd);
    const name = options.name ?? path.basename(display[0] ?? 'cmd');
    const logFile = this.#lab.artifactPath('logs', `${this.name}.${name}.${++this.#spawnSeq}`, 'log');
    const proc = new LabProcess(netnsArgv(this.ns, cmd), { ...options, name, logFile, displayArgv: display });
    this.#lab.trackProcess(proc);
    return proc;
  }

  // ---- services -----------------------------------------------------------------------------------

  /** Registers a service handle (role start hooks do this); one per kind. */
  addService(svc: LabService): void {
    if (this.#services.has(svc.kind)) {
      throw new LabError('CORRIDOR_ERR_LAB_BAD_SPEC', `host ${this.name} already has a ${svc.kind} service`);
    }
    this.#services.set(svc.kind, svc);
  }

  /** The service of that kind ("http", "dns", ...), or undefined. */
  service<T extends LabService = LabService>(kind: string): T | undefined {
    return this.#services.get(kind) as T | undefined;
  }

  services(): LabService[] {
    return [...this.#services.values()];
  }

  // ---- network checks -------------------------------------------------------------------------------

  /** HTTP(S) request with curl from inside the host. Never rejects for network failures: see type. */
  async fetch(url: string, options: FetchOptions = {}): Promise<FetchResult> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const argv = ['curl', '-sS', '-v', '-g', '--max-time', String(timeoutMs / 1000)];
    argv.push('--connect-timeout', String((options.connectTimeoutMs ?? timeoutMs) / 1000));
    argv.push(...(options.proxy ? ['--proxy', options.proxy] : ['--noproxy', '*']));
    if (options.family) argv.push(`-${options.family}`);
    if (options.method) argv.push('-X', options.method);
    for (const [k, v] of Object.entries(options.headers ?? {})) argv.push('-H', `${k}: ${v}`);
    if (options.body !== undefined) argv.push('--data-binary', '@-');
    if (options.cacert) argv.push('--cacert', options.cacert);
    argv.push('-o', options.discardBody ? '/dev/null' : '-');
    argv.push(
      '-w',
      `${FETCH_MARK} %{http_code} %{remote_ip} %{size_download} %{speed_download} %{time_connect} %{time_total}`,
    );
    argv.push('--', url);
    const r = await this.exec(argv, { timeoutMs: timeoutMs + 5000, input: options.body });
    const at = r.stdout.lastIndexOf(FETCH_MARK);
    if (r.code !== 0 || at < 0) {
      const detail = curlDetail(r.stderr);
      return {
        type: 'error',
        reason: r.timedOut ? 'timeout' : curlReason(r.code, detail),
        curlExit: r.code,
        message: detail || r.stderr.trim().split('\n').slice(-3).join('; ') || `curl exited with ${r.code}`,
      };
    }
    const [status = '0', remoteIp = '', size = '0', speed = '0', connect = '0', total = '0'] = r.stdout
      .slice(at + FETCH_MARK.length)
      .trim()
      .split(' ');
    return {
      type: 'response',
      status: Number(status),
      body: r.stdout.slice(0, at),
      remoteIp,
      bytes: Number(size),
      bytesPerSecond: Number(speed),
      connectMs: Number(connect) * 1000,
      totalMs: Number(total) * 1000,
    };
  }

  /** GET that must succeed with 2xx: resolves with the body, rejects with what went wrong. */
  async get(url: string, options: FetchOptions = {}): Promise<string> {
    const r = await this.fetch(url, options);
    if (r.type === 'response' && r.status >= 200 && r.status < 300) return r.body;
    const what =
      r.type === 'response' ? `HTTP ${r.status}: ${r.body.slice(0, 300)}` : `${r.reason}: ${r.message}`;
    throw new LabError('CORRIDOR_ERR_LAB_COMMAND_FAILED', `${this.name}: GET ${url} failed (${what})`);
  }

  /** True when `target` (a host or an address) answers at least one ping. */
  async ping(target: LabHost | string, options: PingOptions = {}): Promise<boolean> {
    const address = typeof target === 'string' ? target : target.address(options.family ?? 4);
    if (net.isIP(address) === 0)
      throw new LabError('CORRIDOR_ERR_LAB_BAD_SPEC', `ping: ${address} is not an address`);
    const wait = Math.max(1, Math.ceil((options.timeoutMs ?? 2000) / 1000));
    const r = await this.exec(['ping', '-n', '-c', String(options.count ?? 1), '-W', String(wait), address]);
    return r.ok;
  }

  /** Pings every target (both families of each host by default) in parallel, in one command. */
  async reachability(
    targets: readonly (LabHost | string)[],
    options: { families?: readonly Family[]; timeoutMs?: number } = {},
  ): Promise<Reachability[]> {
    const list: Omit<Reachability, 'ok'>[] = [];
    for (const t of targets) {
      if (typeof t === 'string') {
        const fam = net.isIP(t);
        if (fam === 0)
          throw new LabError('CORRIDOR_ERR_LAB_BAD_SPEC', `reachability: ${t} is not an address`);
        list.push({ target: t, address: t, family: fam as Family });
      } else {
        for (const f of options.families ?? [4, 6])
          list.push({ target: t.name, address: t.address(f), family: f });
      }
    }
    const wait = Math.max(1, Math.ceil((options.timeoutMs ?? 2000) / 1000));
    const script =
      list
        .map(
          (t, i) =>
            `(ping -n -c 1 -W ${wait} ${t.address} >/dev/null 2>&1 && echo "${i} ok" || echo "${i} no") &`,
        )
        .join('\n') + '\nwait\n';
    const out = await this.run(script);
    const ok = new Set(
      out
        .split('\n')
        .filter((l) => l.endsWith(' ok'))
        .map((l) => Number(l.split(' ')[0])),
    );
    return list.map((t, i) => ({ ...t, ok: ok.has(i) }));
  }

  // ---- link rules and captures ----------------------------------------------------------------------

  /** Drops matching packets on the host's link (silently, as a firewall upstream would). */
  block(match: LinkMatch = {}): Promise<LinkRule> {
    return this.#addRule(match, 1000, `block ${JSON.stringify(match)}`);
  }

  /** Drops `percent` (0.1..100) of the matching packets on the host's link, at random. */
  loss(percent: number, match: LinkMatch = {}): Promise<LinkRule> {
    if (!(percent >= 0.1 && percent <= 100)) {
      return Promise.reject(
        new LabError('CORRIDOR_ERR_LAB_BAD_SPEC', `loss ${percent}% is not within 0.1..100`),
      );
    }
    return this.#addRule(match, Math.round(percent * 10), `loss ${percent}% ${JSON.stringify(match)}`);
  }

  /** Removes every block/loss rule of this host. */
  async clearLinkRules(): Promise<void> {
    if (!this.#linkTable) return;
    await this.#linkTable;
    const c = linkChains(this.routerIface);
    await this.#router(
      ['nft', '-f', '-'],
      `flush chain netdev ${LAB_NFT_TABLE} ${c.egress}\nflush chain netdev ${LAB_NFT_TABLE} ${c.ingress}\n`,
    );
  }

  /** Starts tcpdump on the host's link (or options.iface); resolves once it is listening. */
  async capture(options: CaptureOptions = {}): Promise<Capture> {
    const iface = options.iface ?? this.iface;
    const file = this.#lab.artifactPath('captures', `${this.name}-${options.name ?? 'capture'}`, 'pcap');
    const proc = this.spawn(tcpdumpArgv(iface, file, options), { name: 'tcpdump' });
    await proc.waitFor(/listening on/, { stream: 'stderr', timeoutMs: 15_000 });
    return new Capture(file, iface, proc);
  }

  /** Runs argv in the backbone namespace; rejects with the output unless it exits 0. */
  #router: RouterRun = (argv, input) => {
    this.#lab.assertOpen();
    return runArgvOk(netnsArgv(this.#lab.routerNs, argv), `link rules of ${this.name}`, { input });
  };

  async #addRule(match: LinkMatch, permille: number, description: string): Promise<LinkRule> {
    this.#lab.assertOpen();
    const rules = buildLinkRules(match, permille, `lab-${this.name}-${++this.#ruleSeq}`);
    const chains = linkChains(this.routerIface);
    this.#linkTable ??= this.#router(['nft', '-f', '-'], linkTableScript(this.routerIface)).then(
      () => undefined,
    );
    await this.#linkTable;
    const placed = rules.map((r) => ({ chain: chains[r.chain], body: r.body }));
    const script = placed.map((r) => `add rule netdev ${LAB_NFT_TABLE} ${r.chain} ${r.body}\n`).join('');
    const out = await this.#router(['nft', '--echo', '--handle', '-f', '-'], script);
    const handles = parseEchoHandles(out);
    if (handles.length !== rules.length) {
      throw new LabError(
        'CORRIDOR_ERR_LAB_COMMAND_FAILED',
        `nft for ${this.name} echoed ${handles.length} handles for ${rules.length} rules:\n${out}`,
      );
    }
    return new LinkRule(
      this,
      description,
      placed.map((r, i) => ({ chain: r.chain, handle: handles[i] as number })),
      this.#router,
    );
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      role: this.role,
      region: this.region ?? null,
      ns: this.ns,
      iface: this.iface,
      v4: this.v4,
      v6: this.v6,
      gateway4: this.gateway4,
      gateway6: this.gateway6,
      dnsNames: this.dnsNames,
    };
  }
}
