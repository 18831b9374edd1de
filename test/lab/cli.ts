// `lab`: build the default lab by hand, list lab runs, remove what killed runs left behind.
// Root scripts: `pnpm lab:up`, `pnpm lab:down` (see test/lab/README.md).
import os from 'node:os';
import { createLab } from './lab.js';
import { LabError } from './errors.js';
import {
  cleanupRunSync,
  orphanNamespaces,
  orphanRecord,
  ownerAlive,
  readRecords,
  requireRoot,
  RUN_ID_PATTERN,
  type CleanupReport,
  type RunRecord,
} from './state.js';

const HELP = `Usage: lab <command> [options]

Commands:
  up [--label NAME] [--json] [--keep]
        Build the default lab (resolver, controller, node-eu, node-us, client1, client2, web,
        geo-eu), print its hosts and addresses, and keep it until Ctrl-C, then remove it.
        --json prints one line "READY {...}" with the hosts as JSON instead of the table.
        --keep keeps the work dir (process logs, captures) after removal.
  down [RUN_ID...] [--force]
        Remove lab runs whose process is gone (a killed test, a Ctrl-C'd demo), and lab namespaces
        without a run record. With RUN_IDs, only those; --force also removes runs whose process
        is still alive (that process then fails).
  list [--json]
        Show recorded lab runs, their owner process and whether it is alive.
  bench [--runs N]
        Build and remove the default lab N times (default 5); print build and teardown times
        with the machine's load average (figures from a busy machine are noisy).

Examples:
  pnpm lab:up
  pnpm lab:down
  pnpm lab:down k3j9x2 --force
`;

class UsageError extends Error {}

function parseFlags(
  args: string[],
  known: Record<string, 'bool' | 'value'>,
): { flags: Map<string, string | true>; rest: string[] } {
  const flags = new Map<string, string | true>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (!a.startsWith('--')) {
      rest.push(a);
      continue;
    }
    const kind = known[a];
    if (!kind) throw new UsageError(`unknown option ${a}`);
    if (kind === 'bool') flags.set(a, true);
    else {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      flags.set(a, v);
    }
  }
  return { flags, rest };
}

function describeReport(r: CleanupReport, rec: RunRecord, why: string): string {
  const bits = [`${r.namespaces.length} namespace(s)`, `${r.killed} process(es) killed`];
  if (r.workDir) bits.push(`work dir ${r.workDir}`);
  const problems = r.problems.length ? `\n  problems: ${r.problems.join('; ')}` : '';
  return `removed run ${rec.runId} (${rec.label}, ${why}): ${bits.join(', ')}${problems}`;
}

function down(args: string[]): number {
  const { flags, rest } = parseFlags(args, { '--force': 'bool' });
  for (const id of rest)
    if (!RUN_ID_PATTERN.test(id)) throw new UsageError(`${JSON.stringify(id)} is not a run id (6 of a-z0-9)`);
  requireRoot();
  const force = flags.has('--force');
  const { records, broken } = readRecords();
  let status = 0;
  let removed = 0;
  const only = new Set(rest);
  const wanted = new Set(rest); // still to find, for the "no lab run" message
  for (const rec of records) {
    if (only.size > 0 && !only.has(rec.runId)) continue;
    wanted.delete(rec.runId);
    const alive = ownerAlive(rec);
    if (alive && !force) {
      console.log(
        `left run ${rec.runId} (${rec.label}): its process ${rec.owner.pid} is alive; add --force ${rec.runId} to remove it anyway`,
      );
      continue;
    }
    const report = cleanupRunSync(rec);
    removed++;
    console.log(
      describeReport(
        report,
        rec,
        alive ? `forced, process ${rec.owner.pid} alive` : `process ${rec.owner.pid} gone`,
      ),
    );
    if (report.problems.length > 0) status = 1;
  }
  for (const [id, namespaces] of orphanNamespaces(records)) {
    if (only.size > 0 && !only.has(id)) continue;
    wanted.delete(id);
    const rec = orphanRecord(id, namespaces);
    const report = cleanupRunSync(rec);
    removed++;
    console.log(describeReport(report, rec, 'namespaces without a run record'));
    if (report.problems.length > 0) status = 1;
  }
  for (const id of wanted) {
    console.log(`no lab run ${id} here (nothing recorded, no namespace crl-${id}-*)`);
    status = 1;
  }
  for (const file of broken)
    console.log(`unreadable run record ${file}: check \`ip netns list\`, then delete it`);
  if (removed === 0 && rest.length === 0) console.log('nothing to remove');
  return status;
}

function list(args: string[]): number {
  const { flags } = parseFlags(args, { '--json': 'bool' });
  requireRoot();
  const { records } = readRecords();
  const rows = records.map((r) => ({
    runId: r.runId,
    label: r.label,
    ownerPid: r.owner.pid,
    alive: ownerAlive(r),
    createdAt: r.createdAt,
    namespaces: r.namespaces.length,
    processes: r.processes.length,
    dir: r.dir,
  }));
  if (flags.has('--json')) console.log(JSON.stringify(rows));
  else if (rows.length === 0) console.log('no lab runs recorded');
  else
    for (const r of rows) {
      console.log(
        `${r.runId}  ${r.alive ? 'alive' : 'DEAD '}  pid ${r.ownerPid}  ${r.createdAt}  ${r.namespaces} ns  ${r.processes} proc  ${r.label}`,
      );
    }
  return 0;
}

async function up(args: string[]): Promise<number> {
  const { flags } = parseFlags(args, { '--json': 'bool', '--keep': 'bool', '--label': 'value' });
  const label = typeof flags.get('--label') === 'string' ? (flags.get('--label') as string) : 'lab-up';
  const lab = await createLab({ label, keepArtifacts: flags.has('--keep') });
  // The lab's own handlers (installed first) remove it synchronously; this one reports and exits.
  const stop = new Promise<NodeJS.Signals>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => resolve(sig));
  });
  if (flags.has('--json')) console.log(`READY ${JSON.stringify({ ...lab.toJSON(), ownerPid: process.pid })}`);
  else console.log(`${lab.describe()}\n\nup until Ctrl-C (then everything above is removed)`);
  const sig = await stop;
  await lab.down().catch((e: unknown) => console.error(String(e)));
  console.error(`lab ${lab.runId} removed (${sig})`);
  return 0;
}

function stats(ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const f = (x: number) => `${(x / 1000).toFixed(2)} s`;
  return `median ${f(median)}  min ${f(sorted[0] ?? 0)}  max ${f(sorted.at(-1) ?? 0)}`;
}

async function bench(args: string[]): Promise<number> {
  const { flags } = parseFlags(args, { '--runs': 'value' });
  const runs = Number(flags.get('--runs') ?? 5);
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new UsageError('--runs takes 1..100');
  const build: number[] = [];
  const teardown: number[] = [];
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(`lab bench: ${runs} runs of the default lab, ${os.cpus().length} CPUs, load average ${load()}`);
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const lab = await createLab({ label: 'lab-bench' });
    const t1 = performance.now();
    await lab.down();
    build.push(t1 - t0);
    teardown.push(performance.now() - t1);
  }
  console.log(`  build (8 hosts, 3 servers ready)  ${stats(build)}`);
  console.log(`  teardown                          ${stats(teardown)}`);
  console.log(`  load average after: ${load()}`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case 'up':
      return up(args);
    case 'down':
      return down(args);
    case 'list':
      return list(args);
    case 'bench':
      return bench(args);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return cmd === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`lab: ${e.message}\n\n${HELP}`);
      process.exit(2);
    }
    if (e instanceof LabError) {
      process.stderr.write(`lab: ${e.code}: ${e.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`lab: unexpected error (a bug):\n${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
