// TimerHeap: one binary min-heap of everything in the stack that has a deadline (connections, UDP
// flows, the reassembly sweep). Items carry their own `heapKey` and `heapIndex` (-1 when not queued).
//
// Keys may be early: an item whose real deadline moved later keeps its old key; when it surfaces the
// stack asks it for its real deadline and re-keys it (lazy, so restarting an RTO on every ACK costs
// nothing). A deadline that moves EARLIER must be announced with schedule() (O(log n)).

export interface TimerItem {
  heapKey: number;
  heapIndex: number;
}

export class TimerHeap<T extends TimerItem> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  /** The smallest key, or Infinity. */
  get minKey(): number {
    return this.items.length === 0 ? Infinity : (this.items[0] as T).heapKey;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  /** Queues the item at `key`, or moves it there if queued with a later key. No-op if queued earlier. */
  schedule(item: T, key: number): void {
    if (item.heapIndex >= 0) {
      if (key >= item.heapKey) return;
      item.heapKey = key;
      this.up(item.heapIndex);
      return;
    }
    item.heapKey = key;
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  /** Sets the key exactly (earlier or later). */
  rekey(item: T, key: number): void {
    if (item.heapIndex < 0) {
      this.schedule(item, key);
      return;
    }
    const old = item.heapKey;
    item.heapKey = key;
    if (key < old) this.up(item.heapIndex);
    else this.down(item.heapIndex);
  }

  remove(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    const last = this.items.pop() as T;
    item.heapIndex = -1;
    item.heapKey = Infinity;
    if (last === item) return;
    this.items[i] = last;
    last.heapIndex = i;
    this.down(i);
    this.up(last.heapIndex);
  }

  /** Removes and returns the item with the smallest key. */
  pop(): T | undefined {
    const top = this.items[0];
    if (top === undefined) return undefined;
    this.remove(top);
    return top;
  }

  private up(i: number): void {
    const items = this.items;
    const item = items[i] as T;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as T;
      if (parent.heapKey <= item.heapKey) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i] as T;
    while (true) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && (items[r] as T).heapKey < (items[l] as T).heapKey) c = r;
      const child = items[c] as T;
      if (child.heapKey >= item.heapKey) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}
