/**
 * Status of a running `vpnctl proxy`, as `vpnctl status --json` prints it: the connection status
 * (connection/status.ts; `interface` is "" and `routing.routes` empty, since nothing on the system
 * changes) with `"mode": "proxy"` and:
 *
 *   "proxy": {
 *     "socks": "127.0.0.1:1080" | null, "http": "127.0.0.1:3128" | null,   (where it listens)
 *     "auth": false,                                  (username/password required)
 *     "clients": 2,                                   (local client connections open now)
 *     "connections": { "active", "total", "failed" }, (proxied TCP connections through the tunnel)
 *     "udpAssociations": { "active", "total" },
 *     "bytes": { "up", "down" },                      (payload of closed proxied connections)
 *     "dnsQueries": 12,                               (sent through the tunnel)
 *     "failures": { "<reason>": n },                  (why connections failed, non-zero only)
 *     "refusals": { "<reason>": n }                   (clients turned away, non-zero only)
 *   }
 */
import { formatAge, formatBytes, formatRate } from '../output/format.js';
import type { ConnectionStatus } from '../connection/status.js';

export interface ProxyStatusFields {
  readonly socks: string | null;
  readonly http: string | null;
  readonly auth: boolean;
  readonly clients: number;
  readonly connections: { readonly active: number; readonly total: number; readonly failed: number };
  readonly udpAssociations: { readonly active: number; readonly total: number };
  readonly bytes: { readonly up: number; readonly down: number };
  readonly dnsQueries: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly refusals: Readonly<Record<string, number>>;
}

export interface ProxyConnectionStatus extends ConnectionStatus {
  readonly mode: 'proxy';
  readonly proxy: ProxyStatusFields;
}

export function isProxyStatus(s: ConnectionStatus): s is ProxyConnectionStatus {
  return s.mode === 'proxy' && typeof (s as ProxyConnectionStatus).proxy === 'object';
}

function listening(s: ProxyConnectionStatus): string {
  const parts: string[] = [];
  if (s.proxy.socks) parts.push(`SOCKS5 ${s.proxy.socks}`);
  if (s.proxy.http) parts.push(`HTTP ${s.proxy.http}`);
  return parts.join(', ') + (s.proxy.auth ? ' (username/password required)' : '');
}

export function proxyStatusLine(s: ProxyConnectionStatus): string {
  const where = `${s.node.id}${s.node.city ? ` (${s.node.city})` : ''}`;
  if (s.state !== 'connected') {
    return `${s.state === 'reconnecting' ? '↻ reconnecting to' : '… connecting to'} ${where}${s.lastError ? ` — ${s.lastError}` : ''}`;
  }
  return (
    `● proxy via ${where}  ${s.transport?.toUpperCase() ?? ''}  ${s.proxy.connections.active} open  ` +
    `↑ ${formatRate(s.rates.sentBytesPerSecond)}  ↓ ${formatRate(s.rates.receivedBytesPerSecond)}`
  );
}

export function proxyStatusText(s: ProxyConnectionStatus, now = Date.now()): string {
  const p = s.proxy;
  const fails = Object.entries(p.failures)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const lines = [
    `${s.state === 'connected' ? 'Proxying' : s.state === 'reconnecting' ? 'Reconnecting' : 'Connecting'} through ${s.node.id}${s.node.city ? ` (${s.node.city}, ${s.node.country})` : ''} — proxy mode, no system changes`,
    `  node         ${s.node.host}${s.node.host !== s.node.address ? ` (${s.node.address})` : ''}, ${s.transport ? `${s.transport.toUpperCase()} port ${s.transport === 'udp' ? s.node.udpPort : s.node.tcpPort}` : 'no transport yet'}`,
    `  listening    ${listening(s)}`,
    `  tunnel       ${s.address.ipv4 ?? '-'}${s.address.ipv6 ? `  ${s.address.ipv6}` : ''}${s.mtu ? `  MTU ${s.mtu}` : ''}`,
    `  DNS          ${s.dns?.length ? `${s.dns.join(', ')} (through the tunnel)` : 'none pushed: only numeric addresses work'}`,
    `  connections  ${p.connections.active} open, ${p.connections.total} opened, ${p.connections.failed} failed${fails ? ` (${fails})` : ''}; UDP associations ${p.udpAssociations.active} open, ${p.udpAssociations.total} in all`,
    `  traffic      sent ${formatBytes(s.bytes.sent)}, received ${formatBytes(s.bytes.received)} (↑ ${formatRate(s.rates.sentBytesPerSecond)}, ↓ ${formatRate(s.rates.receivedBytesPerSecond)})`,
    `  handshake    ${s.handshakeAgeSeconds === null ? 'none yet' : `${formatAge(s.handshakeAgeSeconds * 1000)} ago`}; ticket valid until ${new Date(s.ticket.expiresAt).toLocaleString()}`,
    `  up since     ${s.connectedAt ? `${formatAge(now - Date.parse(s.connectedAt))}` : '-'}${s.reconnects ? `, ${s.reconnects} reconnect(s)` : ''}`,
  ];
  if (s.lastError && s.state !== 'connected') lines.push(`  last error   ${s.lastError}`);
  return lines.join('\n') + '\n';
}
