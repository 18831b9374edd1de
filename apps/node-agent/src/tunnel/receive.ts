/**
 * Receive path: clients → kernel. One call per bind batch (UDP: one recvmmsg; TCP: one chunk's frames).
 *
 *   1. Classify: a data message (type 4, exact reserved bytes, >= 32 bytes) takes the fast path; anything
 *      else is a handshake message and goes to Engine.handleHandshake (rate limit before DH, cookies
 *      under load, full admission) with the sender's endpoint.
 *   2. Open: the tunnel finds the keypair by receiver index, checks the replay window, authenticates
 *      and decrypts straight into the next free bytes of the TUN write slab (no intermediate copy);
 *      the replay window is updated only after the tag verified.
 *   3. Roam: an authenticated packet from a new source moves the session's endpoint there (UDP address
 *      change, or a new TCP connection).
 *   4. Source check (cryptokey routing): the inner source must be the session's own IPv4/IPv6 address
 *      ('spoofedSource' otherwise).
 *   5. Isolation: with isolation on, inner destinations that are other clients are dropped ('isolation').
 *   6. Limits: quota and the per-direction bandwidth bucket.
 *   7. TUN: the whole batch goes to the kernel with ONE writeSlab call.
 *
 * Views of the bind's batch are used only inside this call. Drops are counted per reason; nothing throws.
 */
import type { ReceivedBatch, Bind } from '@corridor/tun/bind';
import type { Engine } from './engine.js';
import type { Session } from '../peers/session.js';

const TUN_SLAB_BYTES = 512 * 1024;
const MAX_TUN_BATCH = 2048;
const NO_SOURCE = Object.freeze({ ip: '', port: 0 });

export class ReceivePath {
  private readonly tunSlab = Buffer.alloc(TUN_SLAB_BYTES);
  private readonly tunLengths = new Uint32Array(MAX_TUN_BATCH);
  private tunCount = 0;
  private tunOff = 0;
  private readonly scratch = Buffer.alloc(2048);
  /** Packets handed to the TUN. */
  delivered = 0;

  constructor(private readonly engine: Engine) {}

  private flushTun(): void {
    if (this.tunCount === 0) return;
    const written = this.engine.opts.tun.writeSlab(this.tunSlab, this.tunLengths, this.tunCount);
    this.delivered += written;
    this.engine.drops.tunFull += this.tunCount - written;
    this.tunCount = 0;
    this.tunOff = 0;
  }

  onBatch(bind: Bind, batch: ReceivedBatch): void {
    const e = this.engine;
    if (e.isClosed) return;
    const now = e.clock();
    const pool = e.pool;
    const isolation = e.opts.isolation;
    for (let i = 0; i < batch.count; i++) {
      const d = batch.datagram(i);
      // 1. classify
      if (!(d.length >= 32 && d[0] === 4 && d[1] === 0 && d[2] === 0 && d[3] === 0)) {
        this.flushTun(); // keep packet order around handshakes
        e.handleHandshake(d, batch.endpoint(i), bind, this.scratch);
        continue;
      }
      if (TUN_SLAB_BYTES - this.tunOff < d.length || this.tunCount === MAX_TUN_BATCH) this.flushTun();
      // 2. open into the TUN slab
      const out = this.tunSlab.subarray(this.tunOff);
      const r = e.tunnel.decapsulate(d, NO_SOURCE, out, now);
      if (r.type === 'error' || r.type === 'writeToNetwork' || r.peer === null) continue; // counted by the tunnel
      const s = r.peer.userData as Session | undefined;
      if (s === undefined || s.ended) continue;
      // 3. roaming on authenticated packets only
      if (s.endpoint === null || !batch.isFrom(i, s.endpoint)) {
        s.endpoint = batch.endpoint(i);
        s.bind = bind;
      }
      if (r.type === 'done') continue; // keepalive
      const n = r.data.length;
      const p = this.tunOff;
      const buf = this.tunSlab;
      // 4. source check, 5. isolation
      const version = (buf[p] as number) >> 4;
      if (version === 4 && n >= 20) {
        const src = ((buf[p + 12]! << 24) | (buf[p + 13]! << 16) | (buf[p + 14]! << 8) | buf[p + 15]!) >>> 0;
        if (src !== s.v4) {
          e.drops.spoofedSource++;
          e.rlog.warn('spoof', 'dropped inner packet with a foreign source', { ticketId: s.claims.ticketId });
          continue;
        }
        if (isolation) {
          const dst =
            ((buf[p + 16]! << 24) | (buf[p + 17]! << 16) | (buf[p + 18]! << 8) | buf[p + 19]!) >>> 0;
          if (pool.indexOf4(dst) >= 0) {
            e.drops.isolation++;
            continue;
          }
        }
      } else if (version === 6 && n >= 40 && pool.prefix6 !== null && s.v6Low >= 0) {
        const prefix = pool.prefix6;
        let ok = true;
        for (let k = 0; k < 12 && ok; k++) ok = buf[p + 8 + k] === prefix[k];
        const low = ((buf[p + 20]! << 24) | (buf[p + 21]! << 16) | (buf[p + 22]! << 8) | buf[p + 23]!) >>> 0;
        if (!ok || low !== s.v6Low) {
          e.drops.spoofedSource++;
          e.rlog.warn('spoof', 'dropped inner packet with a foreign source', { ticketId: s.claims.ticketId });
          continue;
        }
        if (isolation) {
          let inPool = true;
          for (let k = 0; k < 12 && inPool; k++) inPool = buf[p + 24 + k] === prefix[k];
          const dlow =
            ((buf[p + 36]! << 24) | (buf[p + 37]! << 16) | (buf[p + 38]! << 8) | buf[p + 39]!) >>> 0;
          if (inPool && dlow !== (pool.net6Low + 1) >>> 0) {
            e.drops.isolation++;
            continue;
          }
        }
      } else {
        e.drops.badInnerPacket++;
        continue;
      }
      // 6. limits
      const c = s.charge(s.rxBucket, n, now);
      if (c !== 0) {
        if (c === 1) e.drops.bandwidth++;
        else e.drops.quota++;
        continue;
      }
      s.rxBytes += n;
      s.rxPackets++;
      this.tunLengths[this.tunCount++] = n;
      this.tunOff += n;
    }
    // 7. one TUN write for the batch
    this.flushTun();
  }
}
