/**
 * The node list as users see it: node rows from PostgreSQL (cached in memory for a few seconds;
 * `invalidate` is broadcast on `nodes` when an admin changes a node) joined with live state from
 * the shared store (`node:live:<id>`, written by heartbeats with a TTL, so a silent node drops
 * offline by itself).
 */
import type { NodeRecord, NodesRepository } from '../repositories/nodes.js';
import type { Store } from '../store/store.js';

export const NODES_CHANNEL = 'nodes';
const CACHE_MS = 5_000;
const ONLINE_MEMO_MS = 1_000;

export interface LiveState {
  load: number;
  activeSessions: number;
  agentVersion: string;
  at: number;
}

export interface NodeView {
  node: NodeRecord;
  online: boolean;
  load: number;
  activeSessions: number;
}

export function liveKey(nodeId: string): string {
  return `node:live:${nodeId}`;
}

export class NodeDirectory {
  private cache: { at: number; nodes: NodeRecord[]; byId: Map<string, NodeRecord> } | undefined;
  private loading: Promise<NodeRecord[]> | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private readonly onlineMemo = new Map<string, { at: number; online: boolean }>();

  constructor(
    private readonly repo: NodesRepository,
    private readonly store: Store,
    private readonly livenessTtlMs: number,
  ) {}

  async start(): Promise<void> {
    this.unsubscribe = await this.store.subscribe(NODES_CHANNEL, () => {
      this.cache = undefined;
      this.onlineMemo.clear();
    });
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.();
  }

  /** Tells every replica to drop its cached node rows. */
  async invalidate(): Promise<void> {
    this.cache = undefined;
    await this.store.publish(NODES_CHANNEL, 'changed');
  }

  private async nodes(): Promise<{ nodes: NodeRecord[]; byId: Map<string, NodeRecord> }> {
    const c = this.cache;
    if (c && Date.now() - c.at < CACHE_MS) return c;
    this.loading ??= this.repo.listActive().finally(() => {
      this.loading = undefined;
    });
    const nodes = await this.loading;
    const fresh = { at: Date.now(), nodes, byId: new Map(nodes.map((n) => [n.id, n])) };
    this.cache = fresh;
    return fresh;
  }

  /** A non-disabled node by id (cached). */
  async get(id: string): Promise<NodeRecord | undefined> {
    return (await this.nodes()).byId.get(id);
  }

  /**
   * Whether the node heartbeats. Answers from a per-node memo for up to ONLINE_MEMO_MS so the
   * ticket hot path does not pay a store round trip per request; a node that stops is noticed
   * within its liveness TTL plus that memo.
   */
  async isOnline(id: string): Promise<boolean> {
    const memo = this.onlineMemo.get(id);
    const now = Date.now();
    if (memo && now - memo.at < ONLINE_MEMO_MS) return memo.online;
    const online = (await this.store.get(liveKey(id))) !== null;
    this.onlineMemo.set(id, { at: now, online });
    return online;
  }

  async list(region?: string): Promise<NodeView[]> {
    const all = (await this.nodes()).nodes.filter((n) => region === undefined || n.region === region);
    const live = await this.store.mget(all.map((n) => liveKey(n.id)));
    return all.map((node, i) => {
      const raw = live[i];
      if (raw === null || raw === undefined) return { node, online: false, load: 0, activeSessions: 0 };
      const s = JSON.parse(raw) as LiveState;
      return { node, online: true, load: s.load, activeSessions: s.activeSessions };
    });
  }

  /** Least-loaded online, enrolled node (ties: fewer sessions, then id). */
  async best(region?: string): Promise<NodeView | undefined> {
    const candidates = (await this.list(region)).filter((v) => v.online && v.node.staticPublicKey !== null);
    candidates.sort(
      (a, b) => a.load - b.load || a.activeSessions - b.activeSessions || a.node.id.localeCompare(b.node.id),
    );
    return candidates[0];
  }

  async recordLive(nodeId: string, state: LiveState): Promise<void> {
    await this.store.set(liveKey(nodeId), JSON.stringify(state), this.livenessTtlMs);
    this.onlineMemo.delete(nodeId);
  }

  /** Drops the local online memo (tests, or after an admin action on a node). */
  forgetOnline(nodeId?: string): void {
    if (nodeId === undefined) this.onlineMemo.clear();
    else this.onlineMemo.delete(nodeId);
  }

  async liveStates(ids: readonly string[]): Promise<Map<string, LiveState>> {
    const raw = await this.store.mget(ids.map(liveKey));
    const out = new Map<string, LiveState>();
    ids.forEach((id, i) => {
      const r = raw[i];
      if (r) out.set(id, JSON.parse(r) as LiveState);
    });
    return out;
  }
}
