/**
 * Receive path: clients → kernel. One call per bind batch (UDP: one recvmmsg; TCP: one chunk's frames).
 *
 *   1. Classify: a data message (type 4, well-formed salt, >= 32 bytes) takes the fast path; anything
 *      else is a handshake message and goes to Engine.handleHandshake (rate limit before DH, cookies
 *      under load, full admission) with the sender's endpoint; its replies (responses, cookie replies)
 *      are queued and leave with ONE bind.send() at the end of the batch.
 *   2. Open + source check: `tunnel.openDataInto` finds the keypair by receiver index, checks the replay
 *      window, authenticates and decrypts straight into the next free bytes of the TUN write slab (no
 *      intermediate copy, no result object), updates the replay window only after the tag verified,
 *      and drops an inner packet whose source is not the session's own IPv4/IPv6 address
 *      ('spoofedSource') or that is no IP packet ('notIP'). That check lives in the protocol (cryptokey
 *      routing) and ONLY there: it is counted once, in tunnel.drops; this file logs it (rate-limited,
 *      naming the session's ticket) since the tunnel tells which peer sent it.
 *   3. Roam: an authenticated packet from a new source moves the session's endpoint there (UDP address
 *      change, or a new TCP connection).
 *   4. Isolation: with isolation on, inner destinations that are other clients are dropped ('isolation').
 *   5. Limits: quota and the per-direction bandwidth bucket.
 *   6. TUN: the whole batch goes to the kernel with ONE writeSlab call.
 *
 * Addresses read from packets are int32 (`|`, never `>>> 0`; see AddressPool).
 * Views of the bind's batch are used only inside this call. Drops are counted per reason; nothing
 * throws. Per packet: no result object, no promise, no view of the TUN slab (the tunnel caches the
 * views sodium needs by slab position).
 */
import { NOT_DATA_MESSAGE, type ResponderPeer } from '@corridor/protocol';
import { SendSlab, type ReceivedBatch, type Bind } from '@corridor/tun/bind';
import type { Engine } from './engine.js';
import type { Session } from '../peers/session.js';

const TUN_SLAB_BYTES = 512 * 1024;
const MAX_TUN_BATCH = 2048;

export class ReceivePath {
  private readonly tunSlab = Buffer.alloc(TUN_SLAB_BYTES);
  private readonly tunLengths = new Uint32Array(MAX_TUN_BATCH);
  private tunCount = 0;
  private tunOff = 0;
  private readonly scratch = Buffer.alloc(2048);
  /** Handshake replies of the current batch (all to the batch's bind). */
  private readonly replies = new SendSlab({ capacity: 64, slotBytes: 1024 });
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

  /** An authenticated inner packet the tunnel refused (spoofed source, not IP): log who sent it. */
  private refused(peer: ResponderPeer, reason: string): void {
    const s = peer.userData as Session | undefined;
    this.engine.rlog.warn(`inner:${reason}`, 'dropped an inner packet', {
      reason,
      ticketId: s?.claims.ticketId,
      deviceId: s?.claims.deviceId,
    });
  }

  onBatch(bind: Bind, batch: ReceivedBatch): void {
    const e = this.engine;
    if (e.isClosed) return;
    const tunnel = e.tunnel;
    const now = e.clock();
    const pool = e.pool;
    const isolation = e.opts.isolation;
    const buf = this.tunSlab;
    for (let i = 0; i < batch.count; i++) {
      const d = batch.datagram(i);
      if (TUN_SLAB_BYTES - this.tunOff < d.length || this.tunCount === MAX_TUN_BATCH) this.flushTun();
      // 1. classify, 2. open into the TUN slab (replay window, source check)
      const p = this.tunOff;
      const n = tunnel.openDataInto(d, buf, p, now);
      if (n === NOT_DATA_MESSAGE) {
        this.flushTun(); // keep packet order around handshakes
        e.handleHandshake(d, batch.endpoint(i), bind, this.scratch, this.replies);
        continue;
      }
      const peer = tunnel.lastPeer;
      if (n < 0) {
        // Counted by the tunnel. Only the post-authentication refusals name a peer; a TCP connection
        // sending data nothing authenticates must still prove itself (Engine.watchTcp).
        if (peer !== null) this.refused(peer, tunnel.lastDrop as string);
        else e.watchTcp(batch.endpoint(i), bind);
        continue;
      }
      const s = (peer as ResponderPeer).userData as Session | undefined;
      if (s === undefined || s.ended) continue;
      // 3. roaming on authenticated packets only
      if (s.endpoint === null || !batch.isFrom(i, s.endpoint)) {
        s.endpoint = batch.endpoint(i);
        s.bind = bind;
        e.provenEndpoint(s.endpoint);
      }
      if (n === 0) continue; // keepalive
      // 4. isolation (the source is already known to be the session's own address)
      if (isolation) {
        if ((buf[p] as number) >> 4 === 4) {
          const dst = (buf[p + 16]! << 24) | (buf[p + 17]! << 16) | (buf[p + 18]! << 8) | buf[p + 19]!;
          if (pool.indexOf4(dst) >= 0) {
            e.drops.isolation++;
            continue;
          }
        } else if (pool.prefix6 !== null) {
          const prefix = pool.prefix6;
          let inPool = true;
          for (let k = 0; k < 12 && inPool; k++) inPool = buf[p + 24 + k] === prefix[k];
          const dlow = (buf[p + 36]! << 24) | (buf[p + 37]! << 16) | (buf[p + 38]! << 8) | buf[p + 39]!;
          if (inPool && dlow !== ((pool.net6Low + 1) | 0)) {
            e.drops.isolation++;
            continue;
          }
        }
      }
      // 5. limits
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
    // 6. one TUN write for the batch, one send of the handshake replies
    this.flushTun();
    if (this.replies.count > 0) {
      bind.send(this.replies);
      this.replies.clear();
    }
  }
}
