#!/usr/bin/env node
/**
 * `corridor-node`: the VPN node agent.
 *
 *   corridor-node run [options]            run the node (enrolls first when given --enrollment-token)
 *   corridor-node enroll [options]         enroll only, then exit
 *   corridor-node status [--json] [opts]   ask the running agent (local status socket)
 *
 * Exit codes: 0 ok; 1 a problem named on stderr with its fix; 2 usage.
 */
import { loadConfig, optionsHelp, type AgentConfig, type LoadOptions } from './config.js';
import { Agent, AgentError, enroll } from './agent.js';
import { createLogger } from './log.js';
import { StateStore } from './control/state-store.js';
import { queryStatus } from './ipc/status-socket.js';
import { AGENT_VERSION } from './version.js';

const USAGE = `Usage: corridor-node <run|enroll|status> [options]

Commands:
  run            run the node agent (UDP/TCP tunnel endpoint, control loops; egress through the
                 kernel's TUN + NAT, or --egress userspace without any privilege)
  enroll         enroll this node with its one-time token and exit
  status         show the running agent's sessions and state (--json for machine output)

Options (flag, environment variable, description; a JSON --config file takes the camelCase keys):
${optionsHelp()}
  --json                                                         status: print JSON
  --help, --version

Examples:
  corridor-node run --controller-url https://ctl.example:8443 --controller-fingerprint AB:CD:… \\
    --node-id fra-1 --enrollment-token <token> --egress-interface eth0
  CORRIDOR_CONFIG=/etc/corridor/node.json corridor-node run
  corridor-node run --egress userspace --tcp-listen 0.0.0.0:8443 --data-dir ~/.corridor-node …   # as any user
  corridor-node status --json
`;

function fail(message: string, code = 1): never {
  process.stderr.write(`corridor-node: ${message}\n`);
  process.exit(code);
}

/** The configuration, or exit 1 naming every problem at once (2 when a flag is unknown: usage). */
function configOrExit(argv: string[], options: LoadOptions = {}): AgentConfig {
  const r = loadConfig(process.env, argv, undefined, { strict: true, ...options });
  if (!r.ok) {
    const usage = r.problems.some((p) => p.endsWith('(see --help)'));
    fail(`invalid configuration:\n${r.problems.map((p) => `  - ${p}`).join('\n')}`, usage ? 2 : 1);
  }
  return r.config;
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return;
  }
  const command = argv.find((a) => !a.startsWith('-'));
  const rest = argv.filter((a) => a !== command);
  if (command === 'status') {
    const json = rest.includes('--json');
    const config = configOrExit(rest.filter((a) => a !== '--json'));
    let status: Record<string, unknown>;
    try {
      status = (await queryStatus(config.statusSocket)) as Record<string, unknown>;
    } catch (err) {
      fail((err as Error).message);
    }
    if (json) process.stdout.write(JSON.stringify(status, null, 2) + '\n');
    else process.stdout.write(formatStatus(status));
    return;
  }
  if (command === 'enroll') {
    const config = configOrExit(rest, { required: ['controllerUrl', 'nodeId', 'enrollmentToken'] });
    const log = createLogger(config.logLevel);
    const store = new StateStore(config.dataDir);
    let release = (): void => {};
    try {
      store.ensure();
      // Re-enrolling under a running agent would replace the credential it is using.
      const lock = store.lock();
      if (!lock.ok) {
        fail(
          `another node agent (pid ${lock.pid}) is already running on ${config.dataDir}\n  hint: stop it before enrolling again`,
        );
      }
      release = lock.release;
      await enroll(config, store, log);
    } catch (err) {
      release();
      fail((err as Error).message);
    }
    release();
    process.stdout.write(`enrolled node ${config.nodeId}; credential stored in ${config.dataDir}\n`);
    return;
  }
  if (command !== 'run') {
    process.stderr.write(command ? `corridor-node: unknown command "${command}"\n\n` : '');
    process.stderr.write(USAGE);
    process.exit(2);
  }
  const config = configOrExit(rest, { required: ['controllerUrl', 'nodeId'] });
  const log = createLogger(config.logLevel);
  const agent = new Agent(config, log);
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal: sig });
    agent.stop().then(
      () => process.exit(0),
      (err: Error) => {
        log.error('shutdown failed', { error: err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await agent.start();
  } catch (err) {
    if (err instanceof AgentError) fail(err.message);
    fail(`could not start: ${(err as Error).stack ?? String(err)}`);
  }
}

function formatStatus(s: Record<string, unknown>): string {
  const sessions = (s.sessions as Record<string, unknown>[]) ?? [];
  const ctl = s.controller as Record<string, unknown> | null;
  const lines = [
    `node ${String(s.nodeId)} (agent ${String(s.version)}), up ${String(s.uptimeSeconds)} s`,
    `  key       ${String(s.publicKey)}`,
    `  listen    ${Object.entries((s.listen as Record<string, string>) ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    s.egressMode === 'userspace'
      ? `  egress    userspace (no TUN); isolation ${s.isolation ? 'on' : 'off'}; online auth ${String(s.onlineAuth)}`
      : `  tun       ${String(s.tun)} → egress ${String(s.egress)}; isolation ${s.isolation ? 'on' : 'off'}; online auth ${String(s.onlineAuth)}`,
    `  refused   ${
      Object.entries((s.egressRefused as Record<string, number>) ?? {})
        .filter(([, n]) => n > 0)
        .map(([r, n]) => `${r} ${n}`)
        .join(', ') || 'none'
    }`,
    `  controller ${ctl ? `${String(ctl.url)} ${ctl.reachable ? 'reachable' : 'UNREACHABLE'}` : 'n/a'}`,
    `  sessions  ${sessions.length}`,
    ...sessions.map(
      (x) =>
        `    ${String(x.address)}  ${String(x.endpoint)}  rx ${String(x.rxBytes)} B  tx ${String(x.txBytes)} B  ticket ${String(x.ticketId)}`,
    ),
  ];
  return lines.join('\n') + '\n';
}

void main(process.argv.slice(2));
