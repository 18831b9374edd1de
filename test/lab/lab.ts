// The lab: a small internet built from network namespaces. Contract:
// - createLab() plans every name and address first, records the run (state.ts) before creating
//   anything, then builds: one backbone namespace routing between per-host veth links, one namespace
//   per host with its own /etc/netns/<ns>/resolv.conf (written before anything runs there), and the
//   role services (resolver, web hosts). If any step fails, everything made so far is removed and
//   createLab rejects.
// - The root namespace is never touched: veths are created inside the lab's namespaces
//   (`ip -n <host> link add ... peer ... netns <backbone>`), the backbone has no default route, and no
//   address, route, rule or sysctl is set outside the lab's namespaces.
// - down() stops every process the lab started (SIGTERM to each group, SIGKILL after 2 s), kills
//   whatever is left in the namespaces, deletes them and their /etc/netns dirs, the work dir (unless
//   keepArtifacts) and the run record. It is idempotent. SIGINT, SIGTERM, SIGHUP and process exit do
//   the same synchronously; after a SIGKILL, `pnpm lab:down` (or the next createLab's sweep) does it.
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LabError } from './errors.js';
import {
  ipBatch,
  netnsArgv,
  runArgv,
  runArgvOk,
  type Command,
  type ExecOptions,
  type ExecResult,
} from './exec.js';
import { LabHost, type LabContext } from './host.js';
import type { LabProcess } from './process.js';
import { BUILTIN_ROLES, type RoleDefinition } from './roles.js';
import type { DnsService, HttpService } from './services.js';
import {
  cleanupRunSync,
  NETNS_ETC_DIR,
  newRunId,
  procStartTime,
  recordPath,
  requireRoot,
  sweepDeadRuns,
  workDirFor,
  writeRecord,
  type RunRecord,
} from './state.js';
import { defaultTopology, Planner, routerNamespace, type HostSpec, type PlannedHost } from './topology.js';

export interface LabOptions {
  /** The hosts (default: defaultTopology()). */
  hosts?: readonly HostSpec[];
  /** Extra host types, or replacements of built-in ones, by role name. */
  roles?: Readonly<Record<string, RoleDefinition>>;
  /** Shown by `pnpm lab:down list` and in the work dir's name (e.g. the test file). */
  label?: string;
  /** Keep the work dir (logs, pcaps) after down(); default: env CORRIDOR_LAB_KEEP=1. */
  keepArtifacts?: boolean;
  /** Progress lines (default: only with env CORRIDOR_LAB_DEBUG=1, to stderr). */
  log?: (line: string) => void;
  /** First remove runs whose process died more than 2 minutes ago (default true). */
  sweep?: boolean;
}

/** Killed runs younger than this are left to `lab down`, so a sweep never races a test inspecting one. */
export const SWEEP_GRACE_MS = 120_000;
export const REQUIRED_TOOLS = ['ip', 'nft', 'sysctl', 'ping', 'curl', 'tcpdump'] as const;

/** Why lab tests cannot run here (not root, not Linux), or undefined when they can. */
export function labSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux: the lab needs network namespaces';
  if (process.getuid?.() !== 0)
    return 'not root: the lab creates network namespaces (CI runs these tests as root)';
  return undefined;
}

function missingTools(): string[] {
  const dirs = [
    ...(process.env.PATH ?? '').split(':').filter(Boolean),
    '/usr/sbin',
    '/usr/bin',
    '/sbin',
    '/bin',
  ];
  const executable = (file: string) => ((statSync(file, { throwIfNoEntry: false })?.mode ?? 0) & 0o111) !== 0;
  return REQUIRED_TOOLS.filter((t) => !dirs.some((d) => executable(path.join(d, t))));
}

// ---- teardown on signals and exit, for every lab of this process ------------------------------------

const activeLabs = new Set<Lab>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let handlersInstalled = false;

function onSignal(sig: NodeJS.Signals): void {
  for (const lab of [...activeLabs]) lab.teardownSync();
  uninstallHandlers();
  // Nobody else handles it: die of the signal as if we had never caught it.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}
function onExit(): void {
  for (const lab of [...activeLabs]) lab.teardownSync();
}
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('exit', onExit);
}
function uninstallHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off('exit', onExit);
}

// ---- the lab ---------------------------------------------------------------------------------------------

export async function createLab(options: LabOptions = {}): Promise<Lab> {
  requireRoot();
  const missing = missingTools();
  if (missing.length > 0)
    throw new LabError('CORRIDOR_ERR_LAB_TOOL_MISSING', `missing tools: ${missing.join(', ')}`);
  if (options.sweep !== false) sweepDeadRuns(SWEEP_GRACE_MS);
  const lab = new Lab(options);
  try {
    await lab.build(options.hosts ?? defaultTopology());
  } catch (e) {
    await lab.down().catch(() => undefined);
    throw e;
  }
  return lab;
}

export class Lab implements LabContext {
  readonly runId: string;
  readonly label: string;
  /** Work dir: logs/ (one file per spawned process) and captures/. */
  readonly dir: string;
  /** The backbone router's namespace. */
  readonly routerNs: string;
  /** Milliseconds createLab took to build the network and start the services. */
  buildMs = 0;

  readonly #planner: Planner;
  readonly #hosts = new Map<string, LabHost>();
  readonly #record: RunRecord;
  readonly #processes = new Set<LabProcess>();
  readonly #log: (line: string) => void;
  #closed = false;
  #recorded = false;
  #closing: Promise<void> | undefined;
  #artifactSeq = 0;

  /** Use createLab(). */
  constructor(options: LabOptions) {
    this.runId = newRunId();
    this.label = options.label ?? 'lab';
    this.dir = workDirFor(this.runId, this.label);
    this.routerNs = routerNamespace(this.runId);
    this.#planner = new Planner(this.runId, { ...BUILTIN_ROLES, ...options.roles });
    this.#log =
      options.log ??
      (process.env.CORRIDOR_LAB_DEBUG === '1'
        ? (l) => process.stderr.write(`[lab ${this.runId}] ${l}\n`)
        : () => undefined);
    this.#record = {
      version: 1,
      runId: this.runId,
      label: this.label,
      owner: { pid: process.pid, startTime: procStartTime(process.pid) },
      createdAt: new Date().toISOString(),
      dir: this.dir,
      keepDir: options.keepArtifacts ?? process.env.CORRIDOR_LAB_KEEP === '1',
      namespaces: [],
      processes: [],
    };
  }

  /** Use createLab(); builds the backbone and the hosts. */
  async build(specs: readonly HostSpec[]): Promise<void> {
    const t0 = performance.now();
    activeLabs.add(this);
    installHandlers();
    this.#persist();
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    await this.#addHosts(specs, true);
    this.buildMs = performance.now() - t0;
    this.#log(`built ${this.#hosts.size} hosts in ${this.buildMs.toFixed(0)} ms`);
  }

  // ---- hosts -------------------------------------------------------------------------------------------

  get hosts(): LabHost[] {
    return [...this.#hosts.values()];
  }

  host(name: string): LabHost {
    const h = this.#hosts.get(name);
    if (!h) {
      throw new LabError(
        'CORRIDOR_ERR_LAB_UNKNOWN_HOST',
        `no host ${JSON.stringify(name)} in lab ${this.runId} (hosts: ${[...this.#hosts.keys()].join(', ')})`,
      );
    }
    return h;
  }

  hostsWithRole(role: string): LabHost[] {
    return this.hosts.filter((h) => h.role === role);
  }

  /** The first node host of a region. */
  node(region: string): LabHost {
    const h = this.hosts.find((x) => x.role === 'node' && x.region === region);
    if (!h)
      throw new LabError('CORRIDOR_ERR_LAB_UNKNOWN_HOST', `no node in region ${region} in lab ${this.runId}`);
    return h;
  }

  /** The resolver's DNS service (queries log, records). */
  get dns(): DnsService {
    const r = this.hostsWithRole('resolver')[0]?.service<DnsService>('dns');
    if (!r) throw new LabError('CORRIDOR_ERR_LAB_UNKNOWN_HOST', `lab ${this.runId} has no resolver`);
    return r;
  }

  /** The HTTP service of a web host (default "web", the echo host). */
  http(hostName = 'web'): HttpService {
    const s = this.host(hostName).service<HttpService>('http');
    if (!s) throw new LabError('CORRIDOR_ERR_LAB_UNKNOWN_HOST', `host ${hostName} runs no HTTP service`);
    return s;
  }

  /** The prefixes of a region (what the region-locked host allows). */
  regionPrefixes(region: string): { v4: string; v6: string } {
    return this.#planner.regionPrefixes(region);
  }

  /** Every lab DNS name with its addresses (what the resolver serves). */
  dnsRecords(): Map<string, { a: string[]; aaaa: string[] }> {
    const m = new Map<string, { a: string[]; aaaa: string[] }>();
    for (const p of this.#planner.hosts)
      for (const n of p.dnsNames) m.set(n, { a: [p.addr.v4], aaaa: [p.addr.v6] });
    return m;
  }

  /** Adds a host to the running lab (same steps as at build; its DNS names go to the resolver). */
  async addHost(spec: HostSpec): Promise<LabHost> {
    this.assertOpen();
    const [host] = await this.#addHosts([spec], false);
    return host as LabHost;
  }

  /** Runs a command in the backbone router's namespace (e.g. to look at its routes). */
  async routerExec(cmd: Command, options?: ExecOptions): Promise<ExecResult> {
    this.assertOpen();
    return runArgv(netnsArgv(this.routerNs, cmd), options);
  }

  // ---- building ------------------------------------------------------------------------------------------

  #resolvConf(): string {
    const r = this.#planner.hosts.find((h) => h.role === 'resolver');
    if (!r) return `# corridor lab ${this.runId}: no resolver in this lab\noptions timeout:1 attempts:1\n`;
    return (
      `# corridor lab ${this.runId}: the lab resolver (${r.dnsNames[0]})\n` +
      `nameserver ${r.addr.v4}\nnameserver ${r.addr.v6}\noptions timeout:1 attempts:2\n`
    );
  }

  #writeResolvConf(ns: string): void {
    const dir = path.join(NETNS_ETC_DIR, ns);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(path.join(dir, 'resolv.conf'), this.#resolvConf(), { mode: 0o644 });
  }

  async #addHosts(specs: readonly HostSpec[], first: boolean): Promise<LabHost[]> {
    const hadResolver = this.#planner.hosts.some((h) => h.role === 'resolver');
    const planned: PlannedHost[] = specs.map((s) => this.#planner.plan(s)); // all checks before any change
    const router = this.routerNs;
    const newNs = [...(first ? [router] : []), ...planned.map((p) => p.ns)];

    // 1. Intent first, then resolv.conf files, then the namespaces.
    this.#record.namespaces.push(...newNs);
    this.#persist();
    const resolverAdded = !hadResolver && planned.some((p) => p.role === 'resolver');
    for (const ns of resolverAdded ? this.#record.namespaces : newNs) this.#writeResolvConf(ns);
    await ipBatch(
      undefined,
      newNs.map((ns) => `netns add ${ns}`),
      'creating the lab namespaces',
    );
    this.#log(`namespaces: ${newNs.join(' ')}`);

    // 2. The backbone routes between all links; it has no default route, so nothing leaves the lab.
    if (first) {
      await runArgvOk(
        netnsArgv(router, [
          'sh',
          '-ec',
          'sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0; ip link set lo up',
        ]),
        'setting up the backbone',
      );
    }

    // 3. Each host: loopback, its veth (peer created straight into the backbone), addresses.
    await Promise.all(
      planned.map((p) =>
        runArgvOk(
          netnsArgv(p.ns, [
            'sh',
            '-ec',
            'sysctl -q -w net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0; ip -batch -',
          ]),
          `setting up host ${p.name}`,
          {
            input: [
              'link set lo up',
              `link add ${p.iface} type veth peer name ${p.routerIface} netns ${router}`,
              `addr add ${p.addr.v4}/${p.addr.prefix4} dev ${p.iface}`,
              `addr add ${p.addr.v6}/${p.addr.prefix6} dev ${p.iface} nodad`,
              `link set ${p.iface} up`,
              '',
            ].join('\n'),
          },
        ),
      ),
    );
    await ipBatch(
      router,
      planned.flatMap((p) => [
        `addr add ${p.addr.gateway4}/${p.addr.prefix4} dev ${p.routerIface}`,
        `addr add ${p.addr.gateway6}/${p.addr.prefix6} dev ${p.routerIface} nodad`,
        `link set ${p.routerIface} up`,
      ]),
      'setting up the backbone links',
    );
    await Promise.all(
      planned.map((p) =>
        ipBatch(
          p.ns,
          [
            `route add default via ${p.addr.gateway4} dev ${p.iface}`,
            `route add default via ${p.addr.gateway6} dev ${p.iface}`,
          ],
          `default routes of ${p.name}`,
        ),
      ),
    );
    const hosts = planned.map((p) => new LabHost(p, this));
    for (const h of hosts) this.#hosts.set(h.name, h);
    this.#log(`links up: ${hosts.map((h) => `${h.name}=${h.v4},${h.v6}`).join(' ')}`);

    // 4. A running resolver learns the new names; then the new hosts' services start, by start order.
    if (!first && hadResolver) {
      for (const p of planned)
        for (const n of p.dnsNames) await this.dns.set(n, { a: [p.addr.v4], aaaa: [p.addr.v6] });
    }
    const byOrder = new Map<number, LabHost[]>();
    for (const h of hosts) {
      const def = this.#planner.roles[h.role] as RoleDefinition;
      if (!def.start) continue;
      const order = def.startOrder ?? 10;
      byOrder.set(order, [...(byOrder.get(order) ?? []), h]);
    }
    for (const order of [...byOrder.keys()].sort((a, b) => a - b)) {
      await Promise.all(
        (byOrder.get(order) ?? []).map((h) =>
          (this.#planner.roles[h.role] as RoleDefinition).start?.(h, this),
        ),
      );
    }
    return hosts;
  }

  /**
   * Writes the run record. Once written, a missing file means someone removed the run from outside
   * (`lab down --force`): the record is then not brought back, so nothing is left to clean twice.
   */
  #persist(): void {
    if (this.#recorded && !existsSync(recordPath(this.runId))) return;
    writeRecord(this.#record);
    this.#recorded = true;
  }

  // ---- LabContext ------------------------------------------------------------------------------------------

  assertOpen(): void {
    if (this.#closed) throw new LabError('CORRIDOR_ERR_LAB_CLOSED', `lab ${this.runId} is torn down`);
  }

  trackProcess(p: LabProcess): void {
    this.#processes.add(p);
    this.#record.processes.push({ pid: p.pid, startTime: procStartTime(p.pid), name: p.name });
    this.#persist();
    void p.exited.then(() => {
      this.#processes.delete(p);
      if (this.#closed) return;
      this.#record.processes = this.#record.processes.filter((r) => r.pid !== p.pid);
      this.#persist();
    });
  }

  artifactPath(sub: string, stem: string, ext: string): string {
    const dir = path.join(this.dir, sub);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return path.join(dir, `${stem.replace(/[^a-zA-Z0-9_.-]/g, '_')}-${++this.#artifactSeq}.${ext}`);
  }

  // ---- teardown --------------------------------------------------------------------------------------------

  get closed(): boolean {
    return this.#closed;
  }

  /** Stops everything and removes every trace of the lab (idempotent). */
  down(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      await Promise.all([...this.#processes].map((p) => p.stop({ graceMs: 2000 })));
      const report = cleanupRunSync(this.#record);
      activeLabs.delete(this);
      if (activeLabs.size === 0) uninstallHandlers();
      this.#log(
        `down: ${report.namespaces.length} namespaces removed${report.problems.length ? `; problems: ${report.problems.join('; ')}` : ''}`,
      );
      if (report.problems.length > 0) {
        throw new LabError(
          'CORRIDOR_ERR_LAB_COMMAND_FAILED',
          `lab ${this.runId} teardown: ${report.problems.join('; ')}`,
        );
      }
    })();
    return this.#closing;
  }

  /** Synchronous teardown for signal and exit handlers: SIGKILL to every process group, then cleanup. */
  teardownSync(): void {
    if (!activeLabs.has(this)) return;
    this.#closed = true;
    for (const p of this.#processes) p.signal('SIGKILL');
    cleanupRunSync(this.#record);
    activeLabs.delete(this);
  }

  // ---- description -------------------------------------------------------------------------------------------

  toJSON(): Record<string, unknown> {
    return {
      runId: this.runId,
      label: this.label,
      dir: this.dir,
      routerNs: this.routerNs,
      buildMs: Math.round(this.buildMs),
      hosts: this.hosts.map((h) => h.toJSON()),
    };
  }

  /** A table of the hosts and their addresses, for logs and `pnpm lab:up`. */
  describe(): string {
    const rows = [['host', 'role', 'region', 'IPv4', 'IPv6', 'DNS names', 'namespace']];
    for (const h of this.hosts)
      rows.push([h.name, h.role, h.region ?? '-', h.v4, h.v6, h.dnsNames.join(' '), h.ns]);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const table = rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n');
    return (
      `corridor lab ${this.runId} (${this.label}): ${this.#hosts.size} hosts, built in ${(this.buildMs / 1000).toFixed(2)} s\n` +
      `${table}\n` +
      `backbone router: ${this.routerNs}; host links: ${this.hosts[0]?.iface ?? '-'} (host side); artifacts: ${this.dir}`
    );
  }
}
