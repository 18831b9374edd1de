/**
 * The node agent process: wires configuration, the data directory, the controller, the kernel (TUN,
 * forwarding, nftables), the transports and the packet engine, and shuts all of it down in reverse.
 *
 * Start order: data dir + node key → enrollment (first run) → cached trust → egress: kernel (crash
 * leftovers removed → TUN → forwarding + nftables with the egress policy) or userspace (the node's own
 * TCP/IP stack, egress/userspace-egress.ts: no TUN, no NAT, no sysctl, no privilege) → UDP/TCP listeners → engine + timer loop → control loops → status
 * socket + metrics. Any failure on the way tears down what was set up and throws an AgentError naming
 * the problem and the fix.
 * Stop (SIGTERM/SIGINT or `stop()`): engine closes (every session ends with reason nodeShutdown) →
 * control loops stop → one last heartbeat reports the ended sessions (3 s budget) → listeners close →
 * nftables table removed and sysctls restored → TUN closed → status socket and metrics closed.
 */
import { formatPublicKey, shortKey, type X25519KeyPair } from '@corridor/protocol';
import { openTun, type LinuxTun, type TunDevice } from '@corridor/tun';
import { TcpServerBind, UdpBind, type Bind } from '@corridor/tun/bind';
import { openFront } from './transports/open-front.js';
import type { TlsFront } from './transports/tls-front.js';
import type http from 'node:http';
import type net from 'node:net';
import { formatIpv6, requireForControl, type AgentConfig } from './config.js';
import { ControllerClient, ControllerError } from './control/controller-client.js';
import { OnlineAuthorizer } from './control/online-auth.js';
import { StateStore } from './control/state-store.js';
import { ControlSync } from './control/sync.js';
import { TrustStore } from './control/trust.js';
import { serveStatus } from './ipc/status-socket.js';
import { Netfilter, interfaceExists } from './kernel/netfilter.js';
import type { Logger } from './log.js';
import { serveMetrics, type MetricSample } from './metrics.js';
import { Engine } from './tunnel/engine.js';
import {
  EGRESS_REFUSAL_REASONS,
  EgressPolicy,
  nodeNetworks,
  type EgressRefusalReason,
} from './egress/policy.js';
import { UserspaceEgress } from './egress/userspace-egress.js';
import { AGENT_VERSION } from './version.js';

// Queue budgets of the data path. TCP through the tunnel fills whatever queue sits in front of the
// slower end until it loses a packet, so these bound the latency that bulk transfers add for everyone
// else (loaded RTT) rather than the throughput: at the 1-2 Gbit/s one core moves, 256 KiB of UDP receive
// buffer is ~2 ms of queue (it was 4 MiB: ~20 ms), and the TUN ring holds the kernel's default 500
// packets (it was 4096: with TCP offloads each entry can be a 64 KiB super-packet).
const UDP_RECEIVE_BUFFER_BYTES = 256 * 1024;
// Userspace egress does the clients' TCP/IP in this process: more work per packet than a TUN write, so
// bursts need more room before the socket drops them. Measured in the lab (bench:egress, loaded
// machine): 256 KiB lost ~10 % of a bulk upload's segments to this buffer (184 Mbit/s), 2 MiB ~1 %
// (~550 Mbit/s). It only fills while the process lags; unprivileged, SO_RCVBUF is capped by
// net.core.rmem_max (the README says to raise it).
const UDP_RECEIVE_BUFFER_BYTES_USERSPACE = 2 * 1024 * 1024;
const TUN_TX_QUEUE_LEN = 500;

export class AgentError extends Error {
  override readonly name = 'AgentError';
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(hint ? `${message}\n  hint: ${hint}` : message);
  }
}

interface Credential {
  nodeId: string;
  credential: string;
}

/** Enrolls with the one-time token (creating the node key if needed); stores the credential 0600. */
export async function enroll(
  config: AgentConfig,
  store: StateStore,
  log: Logger,
): Promise<{ keys: X25519KeyPair; trust: TrustStore }> {
  const problems = requireForControl(config);
  if (config.enrollmentToken === null)
    problems.push(
      '--enrollment-token / CORRIDOR_ENROLLMENT_TOKEN: required to enroll (the one-time token the admin got when creating the node)',
    );
  if (problems.length > 0) throw new AgentError('CORRIDOR_ERR_CONFIG', problems.join('\n'));
  store.ensure();
  const keys = store.nodeKeys();
  const client = new ControllerClient(config.controllerUrl!, {
    caFile: config.controllerCaFile,
    fingerprint: config.controllerFingerprint,
  });
  try {
    const res = await client.enroll(
      config.enrollmentToken!,
      formatPublicKey('x25519pub', keys.publicKey),
      AGENT_VERSION,
    );
    if (res.nodeId !== config.nodeId) {
      throw new AgentError(
        'CORRIDOR_ERR_ENROLL',
        `the token enrolls node "${res.nodeId}", not "${config.nodeId}"`,
        'use the token created for this node id, or fix --node-id',
      );
    }
    store.writeJson('credential.json', {
      nodeId: res.nodeId,
      credential: res.nodeCredential,
    } satisfies Credential);
    const trust = new TrustStore(store);
    trust.setKeys(res.signingKeys, -1);
    log.info('enrolled', {
      nodeId: res.nodeId,
      publicKey: shortKey(keys.publicKey),
      signingKeys: res.signingKeys.length,
    });
    return { keys, trust };
  } catch (err) {
    if (err instanceof ControllerError && err.code === 'CORRIDOR_ERR_ENROLLMENT_TOKEN_INVALID') {
      throw new AgentError(
        'CORRIDOR_ERR_ENROLL',
        'the controller refused the enrollment token (invalid, used or expired)',
        'ask the admin for a new one: POST /v1/admin/nodes/:id/enrollment-token',
      );
    }
    if (err instanceof ControllerError)
      throw new AgentError(
        'CORRIDOR_ERR_CONTROLLER',
        `enrollment failed: ${err.message}`,
        'check --controller-url and the TLS trust (--controller-ca-file or --controller-fingerprint)',
      );
    throw err;
  } finally {
    client.close();
  }
}

export class Agent {
  engine: Engine | null = null;
  tun: TunDevice | null = null;
  binds: Bind[] = [];
  /** The HTTPS front (tls + wss), when configured; its binds are in `binds` too. */
  front: TlsFront | null = null;
  sync: ControlSync | null = null;
  private netfilter: Netfilter | null = null;
  private client: ControllerClient | null = null;
  private timer: NodeJS.Timeout | null = null;
  private statusServer: net.Server | null = null;
  private metricsServer: http.Server | null = null;
  private stopping: Promise<void> | null = null;
  private startedAt = Date.now();
  private keys: X25519KeyPair | null = null;
  private trust: TrustStore | null = null;
  private egress: string | null = null;
  /** Releases the data directory's lock (agent.lock). */
  private unlock: (() => void) | null = null;
  /** The egress policy (both modes) and, in userspace mode, the egress stack. */
  policy: EgressPolicy | null = null;
  userspace: UserspaceEgress | null = null;
  private kernelRefused: Record<EgressRefusalReason, number> | null = null;
  private policyTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly config: AgentConfig,
    readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const c = this.config;
    const problems = requireForControl(c);
    if (problems.length > 0) throw new AgentError('CORRIDOR_ERR_CONFIG', problems.join('\n'));
    const store = new StateStore(c.dataDir);
    try {
      store.ensure();
    } catch (err) {
      throw new AgentError(
        'CORRIDOR_ERR_DATA_DIR',
        `cannot use the data directory ${c.dataDir}: ${(err as Error).message}`,
        'run as root or point --data-dir to a writable directory',
      );
    }
    const lock = store.lock();
    if (!lock.ok) {
      throw new AgentError(
        'CORRIDOR_ERR_ALREADY_RUNNING',
        `another node agent (pid ${lock.pid}) is already running on ${c.dataDir}`,
        `stop it first (corridor-node status --data-dir ${c.dataDir}), or give this one its own --data-dir`,
      );
    }
    this.unlock = lock.release;
    let cred = store.readJson<Credential>('credential.json');
    if (cred !== null && cred.nodeId !== c.nodeId) {
      throw new AgentError(
        'CORRIDOR_ERR_CONFIG',
        `${c.dataDir} belongs to node "${cred.nodeId}", not "${c.nodeId}"`,
        'fix --node-id or use another --data-dir',
      );
    }
    if (cred === null) {
      if (c.enrollmentToken === null) {
        throw new AgentError(
          'CORRIDOR_ERR_NOT_ENROLLED',
          `node "${c.nodeId}" is not enrolled yet (${c.dataDir} has no credential)`,
          'pass --enrollment-token (CORRIDOR_ENROLLMENT_TOKEN) once, or run `corridor-node enroll`',
        );
      }
      await enroll(c, store, this.log);
      cred = store.readJson<Credential>('credential.json');
    }
    this.keys = store.nodeKeys();
    const trust = new TrustStore(store);
    const loaded = trust.load();
    this.trust = trust;
    this.log.info('trust cache loaded', loaded);
    this.client = new ControllerClient(c.controllerUrl!, {
      caFile: c.controllerCaFile,
      fingerprint: c.controllerFingerprint,
    });
    this.client.credential = { nodeId: cred!.nodeId, secret: cred!.credential };

    try {
      const policy = new EgressPolicy(
        { deny: c.egressDeny, allow: c.egressAllow },
        {
          subnet4: c.clientSubnet,
          subnet6: c.clientSubnet6,
          nodeNetworks: nodeNetworks(c.egress === 'kernel' ? c.tunName : null),
        },
      );
      this.policy = policy;
      if (!c.egressDeny.includes('default') && !c.egressDeny.includes('metadata'))
        this.log.warn('egress-deny leaves out the default groups: clients may reach metadata services', {
          egressDeny: c.egressDeny,
        });
      let tun: TunDevice;
      if (c.egress === 'userspace') {
        // No kernel setup at all in this mode: no TUN, no forwarding sysctl, no nftables.
        const left = store.readJson<{ table: string | null }>('kernel-state.json');
        if (left?.table)
          this.log.warn('a kernel-mode run left its nftables table behind; userspace mode cannot remove it', {
            table: left.table,
            hint: 'run once with --egress kernel as root, or `nft delete table inet ' + left.table + '`',
          });
        const us = new UserspaceEgress({
          subnet4: c.clientSubnet,
          subnet6: c.clientSubnet6,
          mtu: c.mtu,
          policy,
          log: this.log,
        });
        this.userspace = us;
        tun = us;
        await us.ready();
        if (!us.pingPermitted)
          this.log.warn('ICMP echo through the node is off: clients get ICMP host unreachable', {
            reason: us.pingProblem,
            hint: "net.ipv4.ping_group_range must include the agent's group (e.g. sysctl -w net.ipv4.ping_group_range='0 2147483647' on the host or in the container)",
          });
      } else {
        // Kernel: leftovers of a crashed run first, then our TUN, forwarding and table.
        this.netfilter = new Netfilter(store);
        const left = await this.netfilter.recover();
        if (left)
          this.log.warn('removed the kernel setup a previous run left behind', {
            table: left.table,
            sysctls: left.sysctls.length,
          });
        // A mistyped egress interface would leave NAT silently dead (nft matches names as strings).
        if (c.egressInterface !== null && !(await interfaceExists(c.egressInterface))) {
          throw new AgentError(
            'CORRIDOR_ERR_CONFIG',
            `--egress-interface / CORRIDOR_EGRESS_INTERFACE: no interface "${c.egressInterface}" in this network namespace`,
            'name the interface towards the internet (`ip link` lists them), or leave it out to use the default route',
          );
        }
        const ktun = this.openTun();
        this.tun = ktun;
        tun = ktun;
        const applied = await this.netfilter.apply({
          tunName: c.tunName,
          subnet4: c.clientSubnet,
          subnet6: c.clientSubnet6,
          egressInterface: c.egressInterface,
          nat: c.nat,
          isolation: c.isolation,
          dnsServers: c.dnsServers,
          policy,
        });
        this.egress = applied.egress;
        for (const w of applied.warnings) this.log.warn(w);
        if (c.nat && applied.egress === null)
          this.log.warn('no egress interface (no default route and none configured): NAT is off');
        await ktun.configure({
          mtu: c.mtu,
          txQueueLen: TUN_TX_QUEUE_LEN,
          addresses: [
            `${c.clientSubnet.gateway}/${c.clientSubnet.prefix}`,
            ...(c.clientSubnet6 ? [`${c.clientSubnet6.gateway}/${c.clientSubnet6.prefix}`] : []),
          ],
          up: true,
        });
        const nf = this.netfilter;
        const refresh = () =>
          void nf.policyCounters().then((r) => {
            if (r !== null) this.kernelRefused = r;
          });
        refresh();
        this.policyTimer = setInterval(refresh, 2000);
      }
      this.log.info('egress policy', { mode: c.egress, ...policy.describe() });

      // Transports.
      if (c.udpListen) {
        try {
          this.binds.push(
            UdpBind.open({
              address: c.udpListen.host,
              port: c.udpListen.port,
              gro: true,
              receiveBufferBytes:
                c.egress === 'userspace' ? UDP_RECEIVE_BUFFER_BYTES_USERSPACE : UDP_RECEIVE_BUFFER_BYTES,
            }),
          );
        } catch (err) {
          throw new AgentError(
            'CORRIDOR_ERR_LISTEN',
            `cannot listen on UDP ${c.udpListen.host}:${c.udpListen.port}: ${(err as Error).message}`,
            'pick another --udp-listen or stop what uses the port',
          );
        }
      }
      if (c.tcpListen) {
        try {
          this.binds.push(
            await TcpServerBind.listen({
              host: c.tcpListen.host,
              port: c.tcpListen.port,
              maxConnections: c.maxSessions * 2,
              padding: c.padding,
            }),
          );
        } catch (err) {
          throw new AgentError(
            'CORRIDOR_ERR_LISTEN',
            `cannot listen on TCP ${c.tcpListen.host}:${c.tcpListen.port}: ${(err as Error).message}`,
            'pick another --tcp-listen, or run as root / grant CAP_NET_BIND_SERVICE for ports below 1024',
          );
        }
      }
      if (c.front) {
        this.front = await openFront(c.front, c.padding, this.keys, c.maxSessions, this.log);
        this.binds.push(...this.front.binds());
      }
      for (const b of this.binds)
        b.on('error', (err) => this.log.debug('transport error', { transport: b.transport, error: err }));

      const online =
        c.onlineAuth === 'off'
          ? null
          : new OnlineAuthorizer(c.onlineAuth, (req) => this.client!.authorize(req));
      const engine = new Engine({
        nodeId: c.nodeId!,
        staticKeys: this.keys,
        tun,
        binds: this.binds,
        trust,
        subnet4: c.clientSubnet,
        subnet6: c.clientSubnet6,
        mtu: c.mtu,
        dnsServers: c.dnsServers,
        keepaliveSeconds: c.keepaliveSeconds,
        isolation: c.isolation,
        maxSessions: c.maxSessions,
        online,
        handshakeRate: c.handshakeRate,
        handshakeBurst: c.handshakeBurst,
        cookieThreshold: c.cookieThreshold,
        log: this.log,
      });
      engine.onSessionEvent = (kind, s, reason) => {
        const fields = {
          ticketId: s.claims.ticketId,
          deviceId: s.claims.deviceId,
          address: engine.pool.ipv4Text(s.index),
          rxBytes: s.rxBytes,
          txBytes: s.txBytes,
        };
        if (kind === 'start') this.log.info('session started', { ...fields, endpoint: s.endpoint?.key });
        else {
          this.log.info('session ended', { ...fields, reason });
          // Userspace egress: the session's connections and flows end with it (revocation, quota, ...).
          if (s.ended && this.userspace) {
            const v6 = s.hasV6 ? engine.pool.ipv6Bytes(s.index) : null;
            this.userspace.closeClient([fields.address, ...(v6 ? [formatIpv6(v6 as Buffer)] : [])]);
          }
        }
      };
      this.engine = engine;
      this.timer = setInterval(() => engine.tick(), 250);

      this.sync = new ControlSync(
        this.client,
        trust,
        engine,
        {
          heartbeatSeconds: c.heartbeatSeconds,
          revocationWaitSeconds: c.revocationWaitSeconds,
          revocationPollSeconds: c.revocationPollSeconds,
          agentVersion: AGENT_VERSION,
        },
        this.log,
      );
      engine.onUnknownSigningKey = () => this.sync?.requestKeyRefresh();
      this.sync.start();

      this.statusServer = await serveStatus(c.statusSocket, () => this.status());
      if (c.metricsListen) this.metricsServer = await serveMetrics(c.metricsListen, () => this.metrics());
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
    this.log.info('node agent running', {
      nodeId: c.nodeId,
      publicKey: formatPublicKey('x25519pub', this.keys.publicKey),
      udp: c.udpListen
        ? `${c.udpListen.host}:${this.binds.find((b) => b.transport === 'udp')?.localPort}`
        : 'off',
      tcp: c.tcpListen
        ? `${c.tcpListen.host}:${this.binds.find((b) => b.transport === 'tcp')?.localPort}`
        : 'off',
      https: this.front
        ? `${c.front!.host}:${this.front.localPort} (tls${c.front!.wssPath ? `, wss ${c.front!.wssPath}` : ''}, fallback ${c.front!.fallback ? `${c.front!.fallback.host}:${c.front!.fallback.port}` : '404 page'})`
        : 'off',
      tun: c.egress === 'kernel' ? c.tunName : null,
      egress: this.egress,
      egressMode: c.egress,
      onlineAuth: c.onlineAuth,
      isolation: c.isolation,
    });
  }

  /** Refusals of the egress policy by reason: nftables counters (kernel) or the policy's (userspace). */
  egressRefused(): Record<EgressRefusalReason, number> {
    if (this.userspace || this.config.egress === 'userspace')
      return { ...(this.policy?.refused ?? zeroRefused()) };
    return { ...(this.kernelRefused ?? zeroRefused()) };
  }

  private openTun(): LinuxTun {
    try {
      return openTun({ name: this.config.tunName, batchSize: 64, offload: true });
    } catch (err) {
      throw new AgentError(
        'CORRIDOR_ERR_TUN',
        `cannot create TUN ${this.config.tunName}: ${(err as Error).message}`,
        'egress=kernel needs root (CAP_NET_ADMIN) and /dev/net/tun; without them run with --egress userspace',
      );
    }
  }

  /** Graceful shutdown; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.policyTimer) clearInterval(this.policyTimer);
    const ended = this.engine?.sessions.size ?? 0;
    this.engine?.close();
    await this.sync?.stop();
    if (this.sync && this.engine) {
      try {
        await this.sync.heartbeat(3000);
        this.log.info('reported ended sessions to the controller', { sessions: ended });
      } catch (err) {
        this.log.warn('could not report ended sessions to the controller', { error: err as Error });
      }
    }
    await Promise.allSettled([...this.binds.map((b) => b.close()), this.front?.close()]);
    try {
      await this.netfilter?.teardown();
    } catch (err) {
      this.log.error('kernel teardown failed', { error: err as Error });
    }
    await this.tun?.close();
    await this.userspace?.close();
    await new Promise<void>((r) => (this.statusServer ? this.statusServer.close(() => r()) : r()));
    await new Promise<void>((r) => (this.metricsServer ? this.metricsServer.close(() => r()) : r()));
    this.client?.close();
    this.unlock?.();
    this.log.info('node agent stopped', { sessionsEnded: ended });
  }

  status(): unknown {
    const e = this.engine;
    const c = this.config;
    return {
      nodeId: c.nodeId,
      version: AGENT_VERSION,
      publicKey: this.keys ? formatPublicKey('x25519pub', this.keys.publicKey) : null,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      tun: c.egress === 'kernel' ? c.tunName : null,
      egress: this.egress,
      egressMode: c.egress,
      egressPolicy: this.policy ? this.policy.describe() : null,
      egressRefused: this.egressRefused(),
      userspaceEgress: this.userspace ? this.userspace.egressStats() : null,
      listen: {
        ...Object.fromEntries(this.binds.map((b) => [b.transport, `${b.localAddress}:${b.localPort}`])),
        ...(this.front
          ? {
              tls: `${this.front.localAddress}:${this.front.localPort}`,
              ...(this.config.front?.wssPath
                ? { wss: `${this.front.localAddress}:${this.front.localPort}${this.config.front.wssPath}` }
                : {}),
            }
          : {}),
      },
      ...(this.front ? { front: this.front.stats() } : {}),
      onlineAuth: c.onlineAuth,
      isolation: c.isolation,
      controller: this.sync
        ? {
            url: c.controllerUrl?.origin,
            reachable: this.sync.stats.controllerReachable,
            lastContactAt: this.sync.stats.lastContactAt
              ? new Date(this.sync.stats.lastContactAt).toISOString()
              : null,
            revocationLongPoll: this.sync.stats.longPollSupported,
            revocationPolls: this.sync.stats.revocationPolls,
            revocationsByLongPoll: this.sync.stats.newsByLongPoll,
            revocationsByPoll: this.sync.stats.newsByPoll,
            heartbeatsOk: this.sync.stats.heartbeatsOk,
          }
        : null,
      trust: this.trust
        ? {
            signingKeys: this.trust.keyCount,
            revocations: this.trust.revocationCount,
            cursor: this.trust.cursor,
          }
        : null,
      sessions: e
        ? [...e.sessions].map((s) => ({
            ticketId: s.claims.ticketId,
            userId: s.claims.userId,
            deviceId: s.claims.deviceId,
            address: e.pool.ipv4Text(s.index),
            address6: s.hasV6 ? formatIpv6(e.pool.ipv6Bytes(s.index) as Buffer) : null,
            endpoint: s.endpoint ? `${s.endpoint.transport} ${s.endpoint.key}` : null,
            rxBytes: s.rxBytes,
            txBytes: s.txBytes,
            connectedAt: new Date(s.connectedAt).toISOString(),
            expiresAt: new Date(s.claims.expiresAtMs).toISOString(),
          }))
        : [],
      drops: e?.drops ?? {},
      rejects: e?.rejects ?? {},
      tunnelDrops: e?.tunnel.drops ?? {},
      ended: e?.endedTotal ?? {},
    };
  }

  metrics(): MetricSample[] {
    const e = this.engine;
    const out: MetricSample[] = [
      { name: 'corridor_node_up', help: '1 while the agent runs.', type: 'gauge', values: [{ value: 1 }] },
    ];
    if (!e) return out;
    out.push(
      {
        name: 'corridor_node_sessions',
        help: 'Live sessions.',
        type: 'gauge',
        values: [{ value: e.sessions.size }],
      },
      {
        name: 'corridor_node_handshakes_total',
        help: 'Completed handshakes.',
        type: 'counter',
        values: [{ value: e.handshakes }],
      },
      {
        name: 'corridor_node_drops_total',
        help: 'Packets dropped by the node, by reason.',
        type: 'counter',
        values: Object.entries(e.drops).map(([reason, value]) => ({ labels: { reason }, value })),
      },
      {
        name: 'corridor_node_tunnel_drops_total',
        help: 'Messages dropped by the protocol, by reason.',
        type: 'counter',
        values: Object.entries(e.tunnel.drops).map(([reason, value]) => ({ labels: { reason }, value })),
      },
      {
        name: 'corridor_node_admission_rejects_total',
        help: 'Handshakes refused at admission, by reason.',
        type: 'counter',
        values: Object.entries(e.rejects).map(([reason, value]) => ({ labels: { reason }, value })),
      },
      {
        name: 'corridor_node_sessions_ended_total',
        help: 'Sessions ended, by reason.',
        type: 'counter',
        values: Object.entries(e.endedTotal).map(([reason, value]) => ({ labels: { reason }, value })),
      },
      {
        name: 'corridor_node_egress_refused_total',
        help: 'Packets to destinations the egress policy refuses, by reason.',
        type: 'counter',
        values: Object.entries(this.egressRefused()).map(([reason, value]) => ({
          labels: { reason },
          value,
        })),
      },
      {
        name: 'corridor_node_controller_reachable',
        help: '1 when the last controller call succeeded.',
        type: 'gauge',
        values: [{ value: this.sync?.stats.controllerReachable ? 1 : 0 }],
      },
    );
    const packets: MetricSample['values'][number][] = [];
    const bytes: MetricSample['values'][number][] = [];
    for (const b of this.binds) {
      const s = b.stats();
      packets.push(
        { labels: { transport: b.transport, direction: 'rx' }, value: s.rxPackets },
        { labels: { transport: b.transport, direction: 'tx' }, value: s.txPackets },
      );
      bytes.push(
        { labels: { transport: b.transport, direction: 'rx' }, value: s.rxBytes },
        { labels: { transport: b.transport, direction: 'tx' }, value: s.txBytes },
      );
    }
    out.push(
      {
        name: 'corridor_node_transport_packets_total',
        help: 'Messages by transport and direction.',
        type: 'counter',
        values: packets,
      },
      {
        name: 'corridor_node_transport_bytes_total',
        help: 'Bytes by transport and direction.',
        type: 'counter',
        values: bytes,
      },
    );
    if (this.userspace) {
      const u = this.userspace.egressStats();
      out.push(
        {
          name: 'corridor_node_userspace_connections',
          help: 'Relayed connections/flows open in userspace egress.',
          type: 'gauge',
          values: [
            { labels: { proto: 'tcp' }, value: u.tcpOpen },
            { labels: { proto: 'udp' }, value: u.udpOpen },
          ],
        },
        {
          name: 'corridor_node_userspace_dial_failures_total',
          help: 'Outbound TCP dials that failed, by error code.',
          type: 'counter',
          values: Object.entries(u.tcpDialFailed).map(([code, value]) => ({ labels: { code }, value })),
        },
        {
          name: 'corridor_node_userspace_drops_total',
          help: 'Packets/flows the userspace egress dropped, by reason.',
          type: 'counter',
          values: Object.entries(u.drops).map(([reason, value]) => ({ labels: { reason }, value })),
        },
      );
    }
    if (this.tun) {
      const t = this.tun.stats();
      out.push({
        name: 'corridor_node_tun_packets_total',
        help: 'TUN packets by direction.',
        type: 'counter',
        values: [
          { labels: { direction: 'rx' }, value: t.rxPackets },
          { labels: { direction: 'tx' }, value: t.txPackets },
        ],
      });
    }
    return out;
  }
}

function zeroRefused(): Record<EgressRefusalReason, number> {
  return Object.fromEntries(EGRESS_REFUSAL_REASONS.map((r) => [r, 0])) as Record<EgressRefusalReason, number>;
}
