/** Repository records → API shapes (ISO 8601 times, text keys). */
import type { Device, NodeSummary, SessionEndReason } from '@corridor/protocol/control';
import type { DeviceRecord } from '../repositories/devices.js';
import type { NodeRecord } from '../repositories/nodes.js';
import type { SessionRecord } from '../repositories/sessions.js';
import type { UserRecord } from '../repositories/users.js';
import type { AuditRecord } from '../repositories/audit.js';
import type { NodeView } from '../services/node-directory.js';

const iso = (d: Date | null): string | null => (d === null ? null : new Date(d).toISOString());

export function toDevice(d: DeviceRecord): Device {
  return {
    id: d.id,
    name: d.name,
    publicKey: d.publicKey,
    createdAt: new Date(d.createdAt).toISOString(),
    lastSeenAt: iso(d.lastSeenAt),
  };
}

export function toAdminDevice(d: DeviceRecord) {
  return { ...toDevice(d), userId: d.userId, revokedAt: iso(d.revokedAt) };
}

export function toAdminUser(u: UserRecord) {
  return {
    id: u.id,
    email: u.email,
    role: u.role,
    disabled: u.disabledAt !== null,
    disabledAt: iso(u.disabledAt),
    createdAt: u.createdAt.toISOString(),
    lastLoginAt: iso(u.lastLoginAt),
    bandwidthBytesPerSec: u.bandwidthBytesPerSec,
    dataQuotaBytes: u.dataQuotaBytes,
  };
}

export function endpointOf(n: NodeRecord) {
  return { host: n.endpointHost, udpPort: n.udpPort, tcpPort: n.tcpPort };
}

export function toNodeSummary(v: NodeView): NodeSummary {
  return {
    id: v.node.id,
    region: v.node.region,
    country: v.node.country,
    city: v.node.city,
    endpoint: endpointOf(v.node),
    publicKey: v.node.staticPublicKey,
    online: v.online,
    load: v.load,
    activeSessions: v.activeSessions,
  };
}

export function toAdminNode(n: NodeRecord, live: { load: number; activeSessions: number } | undefined) {
  return {
    id: n.id,
    region: n.region,
    country: n.country,
    city: n.city,
    endpoint: endpointOf(n),
    publicKey: n.staticPublicKey,
    enrolled: n.enrolledAt !== null,
    enrolledAt: iso(n.enrolledAt),
    disabled: n.disabledAt !== null,
    online: live !== undefined,
    load: live?.load ?? 0,
    activeSessions: live?.activeSessions ?? 0,
    agentVersion: n.agentVersion,
    lastSeenAt: iso(n.lastSeenAt),
    createdAt: n.createdAt.toISOString(),
  };
}

export function toSession(s: SessionRecord) {
  return {
    id: s.id,
    nodeId: s.nodeId,
    ticketId: s.ticketId,
    userId: s.userId,
    deviceId: s.deviceId,
    startedAt: s.startedAt.toISOString(),
    lastSeenAt: s.lastSeenAt.toISOString(),
    endedAt: iso(s.endedAt),
    endReason: (s.endReason ?? null) as SessionEndReason | null,
    active: s.endedAt === null,
    rxBytes: s.rxBytes,
    txBytes: s.txBytes,
  };
}

export function toAuditEvent(a: AuditRecord) {
  return {
    id: a.id,
    actorType: a.actorType,
    actorId: a.actorId,
    action: a.action,
    targetType: a.targetType,
    targetId: a.targetId,
    ip: a.ip,
    details: (a.details ?? null) as Record<string, string | number | boolean | null> | null,
    createdAt: a.createdAt.toISOString(),
  };
}
