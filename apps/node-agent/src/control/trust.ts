/**
 * What the node trusts offline: the controller's ticket-signing keys (with their validity windows) and
 * the revocation set (tickets, devices, users) with its cursor. Both are cached in the data directory so
 * a node that restarts while the controller is down still admits valid tickets and still refuses
 * revoked ones. Ticket verification (`verifyTicket` from @corridor/protocol) looks keys up here.
 */
import { parseEd25519PublicKey, type TicketSigningKey } from '@corridor/protocol';
import type { RevocationList, SigningKey } from '@corridor/protocol/control';
import type { StateStore } from './state-store.js';

interface StoredKeys {
  version: number;
  keys: SigningKey[];
}

interface StoredRevocations {
  cursor: string | null;
  tickets: string[];
  devices: string[];
  users: string[];
}

export interface RevocationDelta {
  readonly tickets: readonly string[];
  readonly devices: readonly string[];
  readonly users: readonly string[];
  readonly reset: boolean;
}

export class TrustStore {
  private keys = new Map<number, TicketSigningKey>();
  private rawKeys: SigningKey[] = [];
  keysVersion = -1;
  cursor: string | null = null;
  readonly tickets = new Set<string>();
  readonly devices = new Set<string>();
  readonly users = new Set<string>();

  constructor(private readonly store: StateStore | null) {}

  /** Loads the caches; returns what was found. */
  load(): { keys: number; revocations: number } {
    const k = this.store?.readJson<StoredKeys>('signing-keys.json');
    if (k && Array.isArray(k.keys))
      this.setKeys(k.keys, typeof k.version === 'number' ? k.version : -1, false);
    const r = this.store?.readJson<StoredRevocations>('revocations.json');
    if (r && Array.isArray(r.tickets) && Array.isArray(r.devices) && Array.isArray(r.users)) {
      this.cursor = typeof r.cursor === 'string' ? r.cursor : null;
      r.tickets.forEach((t) => this.tickets.add(t));
      r.devices.forEach((t) => this.devices.add(t));
      r.users.forEach((t) => this.users.add(t));
    }
    return { keys: this.keys.size, revocations: this.revocationCount };
  }

  get keyCount(): number {
    return this.keys.size;
  }

  get revocationCount(): number {
    return this.tickets.size + this.devices.size + this.users.size;
  }

  /** Replaces the signing keys (from enrollment or GET /v1/agent/signing-keys). Invalid entries are skipped. */
  setKeys(list: readonly SigningKey[], version: number, persist = true): void {
    const next = new Map<number, TicketSigningKey>();
    for (const k of list) {
      const parsed = parseEd25519PublicKey(k.publicKey);
      const nb = Date.parse(k.notBefore);
      const na = Date.parse(k.notAfter);
      if (!parsed.ok || !Number.isFinite(nb) || !Number.isFinite(na)) continue;
      next.set(k.keyId, { publicKey: parsed.value, notBeforeMs: nb, notAfterMs: na });
    }
    this.keys = next;
    this.rawKeys = [...list];
    this.keysVersion = version;
    if (persist)
      this.store?.writeJson('signing-keys.json', { version, keys: this.rawKeys } satisfies StoredKeys);
  }

  /** The signing key `keyId` with its validity window (verifyTicket enforces the window). */
  signingKey(keyId: number): TicketSigningKey | undefined {
    return this.keys.get(keyId);
  }

  /** Applies a revocation answer; returns the ids that are new (to cut live sessions). */
  applyRevocations(list: RevocationList): RevocationDelta {
    if (list.reset) {
      this.tickets.clear();
      this.devices.clear();
      this.users.clear();
    }
    const fresh = (set: Set<string>, ids: readonly string[]): string[] => {
      const out: string[] = [];
      for (const id of ids) {
        const k = id.toLowerCase();
        if (!set.has(k)) {
          set.add(k);
          out.push(k);
        }
      }
      return out;
    };
    const delta = {
      tickets: fresh(this.tickets, list.tickets),
      devices: fresh(this.devices, list.devices),
      users: fresh(this.users, list.users),
      reset: list.reset,
    };
    const changed =
      list.reset ||
      delta.tickets.length + delta.devices.length + delta.users.length > 0 ||
      this.cursor !== list.cursor;
    this.cursor = list.cursor;
    if (changed) {
      this.store?.writeJson('revocations.json', {
        cursor: this.cursor,
        tickets: [...this.tickets],
        devices: [...this.devices],
        users: [...this.users],
      } satisfies StoredRevocations);
    }
    return delta;
  }

  isRevoked(ticketId: string, deviceId: string, userId: string): boolean {
    return this.tickets.has(ticketId) || this.devices.has(deviceId) || this.users.has(userId);
  }
}
