/**
 * Shared pieces of the end-to-end scenarios (test/e2e): the node agent's status and log as the
 * tests read them, polling, and the "after every scenario the machine is as before" check
 * (scenario 11). The processes themselves come from test/client-cli/harness.ts (controller,
 * corridor-node, vpnctl on the netns lab of test/lab).
 */
import { runArgv } from '../lab/exec.js';
import { diffSnapshots, snapshotRoot, type Lab, type LabHost, type RootSnapshot } from '../lab/index.js';
import { NODE_AGENT_MAIN, systemState, tsArgv, type NodeHandle } from '../client-cli/harness.js';

// The agent's status document and JSON log lines, loosely typed: tests read a few fields.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every 250 ms until it is true; throws with `what` after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await Promise.resolve(check()).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(250);
  }
}

/** `corridor-node status --json` of a running agent (over its status socket). */
export async function nodeStatus(node: NodeHandle): Promise<Json> {
  const out = await node.host.run(tsArgv(NODE_AGENT_MAIN, 'status', '--json', '--data-dir', node.dataDir), {
    timeoutMs: 60_000,
  });
  return JSON.parse(out) as Json;
}

/** The agent's JSON log lines so far (current process). */
export function agentLog(node: NodeHandle): Json[] {
  return node.process.lines().flatMap((l) => {
    try {
      return [JSON.parse(l.text) as Json];
    } catch {
      return [];
    }
  });
}

/** Network namespaces that exist now (names only). */
export async function namespaces(): Promise<string[]> {
  const r = await runArgv(['ip', 'netns', 'list'], { timeoutMs: 15_000 });
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!.trim())
    .filter(Boolean)
    .sort();
}

/**
 * Scenario 11, the machine as before: the root namespace (links, addresses, routes, rules, nftables,
 * iptables, forwarding, resolv.conf, hosts), the lab's namespaces, and every client host's routes,
 * rules, firewall, interfaces and resolv.conf. `take()` before a scenario, `diff()` after it:
 * '' when nothing changed.
 */
export class MachineState {
  private constructor(
    private readonly root: RootSnapshot,
    private readonly netns: string[],
    private readonly hosts: Map<string, Record<string, string>>,
  ) {}

  static async take(lab: Lab, clients: readonly LabHost[]): Promise<MachineState> {
    const hosts = new Map<string, Record<string, string>>();
    for (const h of clients) hosts.set(h.name, await systemState(h));
    const prefix = `crl-${lab.runId}-`;
    return new MachineState(
      await snapshotRoot(),
      (await namespaces()).filter((n) => n.startsWith(prefix)),
      hosts,
    );
  }

  /** What differs in `now` ('' when nothing). */
  diff(now: MachineState): string {
    const parts: string[] = [];
    const root = diffSnapshots(this.root, now.root);
    if (root) parts.push(`root namespace:\n${root}`);
    if (this.netns.join(',') !== now.netns.join(','))
      parts.push(`lab namespaces: ${this.netns.join(' ')} -> ${now.netns.join(' ')}`);
    for (const [name, before] of this.hosts) {
      const after = now.hosts.get(name) ?? {};
      for (const key of Object.keys(before)) {
        if (before[key] !== after[key])
          parts.push(`${name} ${key}:\n--- before\n${before[key]}\n--- after\n${after[key]}`);
      }
    }
    return parts.join('\n');
  }
}
