// FlowTable: connections (TCP) and flows (UDP) keyed by their 4-tuple, looked up per packet straight
// from the parsed address words (no key object or string per packet).
//
// Separate chaining in a power-of-two bucket array that doubles at a load factor of 1. The bucket hash
// mixes the tuple with a per-table random seed, so a remote party cannot predict which flows collide;
// chains are in any case bounded by the stack's connection limit. A one-entry cache serves the common
// case of consecutive packets of one bulk flow.
import type { IpAddr } from './wire/address.js';

export interface FlowEntry {
  readonly local: IpAddr;
  readonly remote: IpAddr;
  readonly localPort: number;
  readonly remotePort: number;
  /** Chain link, owned by the table. */
  tableNext: FlowEntry | null;
  tableHash: number;
  /** True while the entry is in a table. */
  inTable: boolean;
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  return (h ^ (h >>> 15)) | 0;
}

export function tupleBucketHash(
  seed: number,
  l0: number,
  l1: number,
  l2: number,
  l3: number,
  r0: number,
  r1: number,
  r2: number,
  r3: number,
  ports: number,
): number {
  let h = seed;
  h = mix(h, l0);
  h = mix(h, l1);
  h = mix(h, l2);
  h = mix(h, l3);
  h = mix(h, r0);
  h = mix(h, r1);
  h = mix(h, r2);
  h = mix(h, r3);
  h = mix(h, ports);
  h = Math.imul(h ^ (h >>> 13), 0x85ebca6b);
  return (h ^ (h >>> 16)) >>> 0;
}

export class FlowTable<T extends FlowEntry> {
  private buckets: (T | null)[];
  private mask: number;
  private count = 0;
  private cache: T | null = null;

  constructor(
    private readonly seed: number,
    initialBuckets = 256,
  ) {
    let n = 16;
    while (n < initialBuckets) n *= 2;
    this.buckets = new Array<T | null>(n).fill(null);
    this.mask = n - 1;
  }

  get size(): number {
    return this.count;
  }

  hashOf(local: IpAddr, localPort: number, remote: IpAddr, remotePort: number): number {
    return tupleBucketHash(
      this.seed,
      local.w0,
      local.w1,
      local.w2,
      local.w3,
      remote.w0,
      remote.w1,
      remote.w2,
      remote.w3,
      ((localPort << 16) | remotePort) >>> 0,
    );
  }

  insert(e: T): void {
    if (e.inTable) return;
    if (this.count >= this.buckets.length) this.grow();
    const h = this.hashOf(e.local, e.localPort, e.remote, e.remotePort);
    e.tableHash = h;
    const b = h & this.mask;
    e.tableNext = this.buckets[b] as T | null;
    this.buckets[b] = e;
    e.inTable = true;
    this.count++;
  }

  remove(e: T): void {
    if (!e.inTable) return;
    const b = e.tableHash & this.mask;
    let p = this.buckets[b] as T | null;
    if (p === e) {
      this.buckets[b] = e.tableNext as T | null;
    } else {
      while (p !== null && p.tableNext !== e) p = p.tableNext as T | null;
      if (p !== null) p.tableNext = e.tableNext;
    }
    e.tableNext = null;
    e.inTable = false;
    this.count--;
    if (this.cache === e) this.cache = null;
  }

  /**
   * Finds the entry whose local side is (l*, localPort) and remote side (r*, remotePort); words in the
   * IpAddr layout, family included so a v4 and a mapped v6 address never match each other.
   */
  lookup(
    family: number,
    l0: number,
    l1: number,
    l2: number,
    l3: number,
    localPort: number,
    r0: number,
    r1: number,
    r2: number,
    r3: number,
    remotePort: number,
  ): T | null {
    const c = this.cache;
    if (
      c !== null &&
      c.localPort === localPort &&
      c.remotePort === remotePort &&
      c.remote.w3 === r3 &&
      c.local.w3 === l3 &&
      c.remote.w2 === r2 &&
      c.remote.w1 === r1 &&
      c.remote.w0 === r0 &&
      c.local.w2 === l2 &&
      c.local.w1 === l1 &&
      c.local.w0 === l0 &&
      c.local.family === family
    ) {
      return c;
    }
    const h = tupleBucketHash(
      this.seed,
      l0,
      l1,
      l2,
      l3,
      r0,
      r1,
      r2,
      r3,
      ((localPort << 16) | remotePort) >>> 0,
    );
    let e = this.buckets[h & this.mask] as T | null;
    while (e !== null) {
      if (
        e.tableHash === h &&
        e.localPort === localPort &&
        e.remotePort === remotePort &&
        e.remote.w3 === r3 &&
        e.local.w3 === l3 &&
        e.remote.w2 === r2 &&
        e.remote.w1 === r1 &&
        e.remote.w0 === r0 &&
        e.local.w2 === l2 &&
        e.local.w1 === l1 &&
        e.local.w0 === l0 &&
        e.local.family === family
      ) {
        this.cache = e;
        return e;
      }
      e = e.tableNext as T | null;
    }
    return null;
  }

  /** Lookup by addresses (API paths: connect, port allocation). */
  find(local: IpAddr, localPort: number, remote: IpAddr, remotePort: number): T | null {
    return this.lookup(
      local.family,
      local.w0,
      local.w1,
      local.w2,
      local.w3,
      localPort,
      remote.w0,
      remote.w1,
      remote.w2,
      remote.w3,
      remotePort,
    );
  }

  /** Every entry (snapshot), for shutdown and stats. */
  values(): T[] {
    const out: T[] = [];
    for (const head of this.buckets) {
      for (let e = head as T | null; e !== null; e = e.tableNext as T | null) out.push(e);
    }
    return out;
  }

  private grow(): void {
    const old = this.buckets;
    const n = old.length * 2;
    this.buckets = new Array<T | null>(n).fill(null);
    this.mask = n - 1;
    for (const head of old) {
      let e = head as T | null;
      while (e !== null) {
        const next = e.tableNext as T | null;
        const b = e.tableHash & this.mask;
        e.tableNext = this.buckets[b] as T | null;
        this.buckets[b] = e;
        e = next;
      }
    }
  }
}
