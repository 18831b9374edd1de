/**
 * The status of a running connection, as `vpnctl status --json` prints it (stable: fields are only
 * ever added). Times are RFC 3339; byte counts are inner (IP packet) bytes.
 *
 *   {
 *     "state": "connecting" | "connected" | "reconnecting",
 *     "mode": "tun" | "proxy",               (proxy: see proxy/proxy-status.ts for the extra fields)
 *     "pid": 1234,
 *     "node": { "id", "region", "city", "country", "host", "address", "udpPort", "tcpPort", "tlsPort"? },
 *     "transport": "udp" | "tcp" | "tls" | "wss" | null,
 *     "interface": "corridor0",
 *     "address": { "ipv4": "10.8.0.12/24", "ipv6": "fd00:8::12/64" | null },
 *     "gateway": "10.8.0.1",
 *     "mtu": 1420,
 *     "dns": ["10.8.0.1"] | null,            (null: --no-dns, system DNS untouched)
 *     "routing": { "mode": "full" | "split", "routes": ["0.0.0.0/1", ...],
 *                  "ipv6": "tunnel" | "blocked" | "untouched" },
 *     "killSwitch": true,
 *     "startedAt", "connectedAt" | null, "lastHandshakeAt" | null, "handshakeAgeSeconds" | null,
 *     "ticket": { "id", "expiresAt" },
 *     "bytes": { "sent", "received" },
 *     "rates": { "sentBytesPerSecond", "receivedBytesPerSecond" },
 *     "reconnects": 0,
 *     "drops": { "<reason>": count, ... },   (only reasons with a non-zero count)
 *     "lastError": string | null
 *   }
 *
 * Not connected: `{ "state": "disconnected" }` (plus `"staleJournal": true` when a crashed
 * connection left changes behind that `vpnctl disconnect` will undo).
 */
import { formatAge, formatBytes, formatRate } from '../output/format.js';

export interface ConnectionStatus {
  readonly state: 'connecting' | 'connected' | 'reconnecting';
  /** 'tun' for `vpnctl connect`, 'proxy' for `vpnctl proxy` (see proxy/proxy-status.ts). */
  readonly mode?: 'tun' | 'proxy';
  readonly pid: number;
  readonly node: {
    readonly id: string;
    readonly region: string | null;
    readonly city: string | null;
    readonly country: string | null;
    readonly host: string;
    readonly address: string;
    readonly udpPort: number;
    readonly tcpPort: number;
    /** The HTTPS front's port (tls, wss), when the connect knew it. */
    readonly tlsPort?: number;
  };
  readonly transport: 'udp' | 'tcp' | 'tls' | 'wss' | null;
  readonly interface: string;
  readonly address: { readonly ipv4: string | null; readonly ipv6: string | null };
  readonly gateway: string | null;
  readonly mtu: number | null;
  readonly dns: readonly string[] | null;
  readonly routing: {
    readonly mode: 'full' | 'split';
    readonly routes: readonly string[];
    readonly ipv6: 'tunnel' | 'blocked' | 'untouched';
  };
  readonly killSwitch: boolean;
  readonly startedAt: string;
  readonly connectedAt: string | null;
  readonly lastHandshakeAt: string | null;
  readonly handshakeAgeSeconds: number | null;
  readonly ticket: { readonly id: string; readonly expiresAt: string };
  readonly bytes: { readonly sent: number; readonly received: number };
  readonly rates: { readonly sentBytesPerSecond: number; readonly receivedBytesPerSecond: number };
  readonly reconnects: number;
  readonly drops: Readonly<Record<string, number>>;
  readonly lastError: string | null;
}

export function isConnectionStatus(v: unknown): v is ConnectionStatus {
  const s = v as ConnectionStatus | undefined;
  return (
    typeof s === 'object' &&
    s !== null &&
    ['connecting', 'connected', 'reconnecting'].includes(s.state) &&
    typeof s.node?.id === 'string'
  );
}

/** One line for the live display: node, address, transport, rates, handshake age. */
export function statusLine(s: ConnectionStatus): string {
  const where = `${s.node.id}${s.node.city ? ` (${s.node.city})` : ''}`;
  if (s.state !== 'connected') {
    return `${s.state === 'reconnecting' ? '↻ reconnecting to' : '… connecting to'} ${where}${s.lastError ? ` — ${s.lastError}` : ''}`;
  }
  const age = s.handshakeAgeSeconds === null ? '-' : formatAge(s.handshakeAgeSeconds * 1000);
  return (
    `● ${where}  ${s.address.ipv4 ?? ''}  ${s.transport?.toUpperCase() ?? ''}  ` +
    `↑ ${formatRate(s.rates.sentBytesPerSecond)}  ↓ ${formatRate(s.rates.receivedBytesPerSecond)}  handshake ${age} ago`
  );
}

export function statusText(s: ConnectionStatus, now = Date.now()): string {
  const lines = [
    `${s.state === 'connected' ? 'Connected' : s.state === 'reconnecting' ? 'Reconnecting' : 'Connecting'} to ${s.node.id}${s.node.city ? ` (${s.node.city}, ${s.node.country})` : ''}`,
    `  node         ${s.node.host}${s.node.host !== s.node.address ? ` (${s.node.address})` : ''}, ${s.transport ? `${s.transport.toUpperCase()} port ${s.transport === 'udp' ? s.node.udpPort : s.transport === 'tcp' ? s.node.tcpPort : (s.node.tlsPort ?? 443)}` : 'no transport yet'}`,
    `  interface    ${s.interface}${s.address.ipv4 ? `  ${s.address.ipv4}` : ''}${s.address.ipv6 ? `  ${s.address.ipv6}` : ''}${s.mtu ? `  MTU ${s.mtu}` : ''}`,
    `  routing      ${s.routing.mode === 'full' ? 'all traffic' : `split: ${s.routing.routes.join(', ')}`}; IPv6 ${s.routing.ipv6 === 'tunnel' ? 'through the tunnel' : s.routing.ipv6 === 'blocked' ? 'blocked (the node offers none)' : 'not routed'}`,
    `  DNS          ${s.dns === null ? 'unchanged (--no-dns)' : s.dns.length ? s.dns.join(', ') : 'unchanged (the node pushed none)'}`,
    `  kill switch  ${s.killSwitch ? 'on' : 'off'}`,
    `  traffic      sent ${formatBytes(s.bytes.sent)}, received ${formatBytes(s.bytes.received)} (↑ ${formatRate(s.rates.sentBytesPerSecond)}, ↓ ${formatRate(s.rates.receivedBytesPerSecond)})`,
    `  handshake    ${s.handshakeAgeSeconds === null ? 'none yet' : `${formatAge(s.handshakeAgeSeconds * 1000)} ago`}; ticket valid until ${new Date(s.ticket.expiresAt).toLocaleString()}`,
    `  up since     ${s.connectedAt ? `${formatAge(now - Date.parse(s.connectedAt))}` : '-'}${s.reconnects ? `, ${s.reconnects} reconnect(s)` : ''}`,
  ];
  if (s.lastError && s.state !== 'connected') lines.push(`  last error   ${s.lastError}`);
  return lines.join('\n') + '\n';
}
