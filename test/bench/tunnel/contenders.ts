/**
 * The tunnels Corridor is measured against, each between the benchmark's two namespaces, with key
 * material generated per run in the run's temporary directory:
 *
 *   veth         the bare link (the physical ceiling; no tunnel process)
 *   wireguard-go Debian's wireguard-go (userspace TUN; there is no WireGuard kernel module here),
 *                configured with wireguard-tools' `wg`
 *   openvpn-*    OpenVPN 2.6 in TLS mode (own CA, ECDSA P-256 certificates, no DCO): UDP with
 *                AES-256-GCM, UDP with CHACHA20-POLY1305, TCP with AES-256-GCM
 *
 * All inner MTUs are 1420 (WireGuard's and Corridor's default), so the same TCP segment sizes cross
 * every tunnel and no outer packet is fragmented. Tunnel subnets are 198.19.N.0/24, inside the lab range.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NODE_VETH_IP, must, sleep, type BenchNet, type Proc } from './netns.js';

export interface Contender {
  /** Short id used in the table (`corridor-udp`, `openvpn-udp-aes`...). */
  readonly id: string;
  readonly label: string;
  /** The node-side address iperf3 and ping talk to (through the tunnel). */
  readonly serverIp: string;
  up(): Promise<void>;
  /** Pids of the tunnel's own processes on both ends (their CPU time is the tunnel's cost). */
  pids(): number[];
  /** The node-side tunnel process, for its memory (or null). */
  nodePid(): number | null;
  down(): Promise<void>;
}

export const INNER_MTU = 1420;

export class VethContender implements Contender {
  readonly id = 'veth';
  readonly label = 'bare veth (ceiling)';
  readonly serverIp = NODE_VETH_IP;
  async up(): Promise<void> {}
  pids(): number[] {
    return [];
  }
  nodePid(): number | null {
    return null;
  }
  async down(): Promise<void> {}
}

export class WireguardGoContender implements Contender {
  readonly id = 'wireguard-go';
  readonly label = 'wireguard-go (userspace)';
  readonly serverIp = '198.19.1.1';
  private readonly clientIp = '198.19.1.2';
  private readonly port = 51900;
  private procs: Proc[] = [];
  // wireguard-go's UAPI sockets live in /var/run/wireguard/<name>.sock, shared by all namespaces:
  // names carry the run's suffix.
  private readonly nodeIf: string;
  private readonly clientIf: string;

  constructor(
    private readonly net: BenchNet,
    private readonly dir: string,
  ) {
    this.nodeIf = `wgn${net.runId}`;
    this.clientIf = `wgc${net.runId}`;
  }

  private async key(name: string): Promise<{ file: string; pub: string }> {
    const priv = (await must(['wg', 'genkey'])).trim();
    const file = path.join(this.dir, `${name}.key`);
    writeFileSync(file, priv + '\n', { mode: 0o600 });
    const pub = (await must(['wg', 'pubkey'], { input: priv + '\n' })).trim();
    return { file, pub };
  }

  private async waitLink(ns: string, ifname: string, p: Proc): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const r = await this.net.exec(ns, ['ip', 'link', 'show', ifname]);
      if (r.code === 0) return;
      if (!p.running) throw new Error(`wireguard-go exited:\n${p.output}`);
      await sleep(50);
    }
    throw new Error(`wireguard-go did not create ${ifname}:\n${p.output}`);
  }

  async up(): Promise<void> {
    const n = await this.key('wg-node');
    const c = await this.key('wg-client');
    const env = { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' };
    const { net } = this;
    const pn = net.spawn(net.node, 'wireguard-go node', ['wireguard-go', '-f', this.nodeIf], env);
    const pc = net.spawn(net.client, 'wireguard-go client', ['wireguard-go', '-f', this.clientIf], env);
    this.procs = [pn, pc];
    await this.waitLink(net.node, this.nodeIf, pn);
    await this.waitLink(net.client, this.clientIf, pc);
    await net.mustExec(net.node, [
      'wg',
      'set',
      this.nodeIf,
      'listen-port',
      String(this.port),
      'private-key',
      n.file,
      'peer',
      c.pub,
      'allowed-ips',
      `${this.clientIp}/32`,
    ]);
    await net.mustExec(net.client, [
      'wg',
      'set',
      this.clientIf,
      'private-key',
      c.file,
      'peer',
      n.pub,
      'allowed-ips',
      `${this.serverIp}/32`,
      'endpoint',
      `${NODE_VETH_IP}:${this.port}`,
    ]);
    for (const [ns, ifname, ip] of [
      [net.node, this.nodeIf, this.serverIp],
      [net.client, this.clientIf, this.clientIp],
    ] as const) {
      await net.mustExec(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', ifname]);
      await net.mustExec(ns, ['ip', 'link', 'set', ifname, 'mtu', String(INNER_MTU), 'up']);
    }
  }

  pids(): number[] {
    return this.procs.map((p) => p.pid);
  }

  nodePid(): number | null {
    return this.procs[0]?.pid ?? null;
  }

  async down(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
    this.procs = [];
  }
}

/** One CA and a server and a client certificate (ECDSA P-256), made once per run with openssl. */
export async function makeOpenvpnPki(dir: string): Promise<void> {
  const o = (args: string[]) => must(['openssl', ...args], { cwd: dir });
  await o(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  await o([
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-days',
    '2',
    '-subj',
    '/CN=corridor-bench-ca',
    '-out',
    'ca.crt',
  ]);
  for (const [name, ext] of [
    ['server', 'serverAuth'],
    ['client', 'clientAuth'],
  ] as const) {
    await o(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
    await o(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=bench-${name}`, '-out', `${name}.csr`]);
    writeFileSync(
      path.join(dir, `${name}.ext`),
      `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyAgreement\nextendedKeyUsage=${ext}\n`,
    );
    await o([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ]);
  }
  for (const f of ['ca.key', 'server.key', 'client.key']) chmodSync(path.join(dir, f), 0o600);
}

export class OpenvpnContender implements Contender {
  readonly serverIp: string;
  private procs: Proc[] = [];

  constructor(
    private readonly net: BenchNet,
    private readonly pki: string,
    readonly id: string,
    readonly label: string,
    private readonly o: {
      proto: 'udp' | 'tcp';
      cipher: 'AES-256-GCM' | 'CHACHA20-POLY1305';
      subnet: number;
      port: number;
    },
  ) {
    this.serverIp = `198.19.${o.subnet}.1`;
  }

  private common(): string[] {
    const f = (n: string) => path.join(this.pki, n);
    return [
      '--dev',
      'tun',
      '--disable-dco',
      '--ca',
      f('ca.crt'),
      '--data-ciphers',
      this.o.cipher,
      '--tun-mtu',
      String(INNER_MTU),
      '--verb',
      '3',
      '--auth-nocache',
    ];
  }

  async up(): Promise<void> {
    const { net, o } = this;
    const f = (n: string) => path.join(this.pki, n);
    const server = net.spawn(net.node, `openvpn ${this.id} server`, [
      'openvpn',
      ...this.common(),
      '--mode',
      'server',
      '--tls-server',
      '--topology',
      'subnet',
      '--server',
      `198.19.${o.subnet}.0`,
      '255.255.255.0',
      '--proto',
      o.proto === 'udp' ? 'udp4' : 'tcp4-server',
      '--local',
      NODE_VETH_IP,
      '--port',
      String(o.port),
      '--cert',
      f('server.crt'),
      '--key',
      f('server.key'),
      '--dh',
      'none',
      '--keepalive',
      '10',
      '60',
    ]);
    this.procs = [server];
    await server.waitFor(/Initialization Sequence Completed/, 30_000);
    const client = net.spawn(net.client, `openvpn ${this.id} client`, [
      'openvpn',
      ...this.common(),
      '--client',
      '--nobind',
      '--remote',
      NODE_VETH_IP,
      String(o.port),
      '--proto',
      o.proto === 'udp' ? 'udp4' : 'tcp4-client',
      '--cert',
      f('client.crt'),
      '--key',
      f('client.key'),
      '--remote-cert-tls',
      'server',
    ]);
    this.procs.push(client);
    await client.waitFor(/Initialization Sequence Completed/, 30_000);
    const m = /Data Channel: cipher '([^']+)'/.exec(client.output);
    if (m && m[1] !== o.cipher) throw new Error(`openvpn negotiated ${m[1]}, not ${o.cipher}`);
  }

  pids(): number[] {
    return this.procs.map((p) => p.pid);
  }

  nodePid(): number | null {
    return this.procs[0]?.pid ?? null;
  }

  async down(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
    this.procs = [];
  }
}
