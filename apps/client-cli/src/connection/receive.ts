/**
 * Receive path: node -> open -> TUN, one call per batch the link read.
 *
 *   1. The link hands over messages: views valid only during this call. UDP messages that did not
 *      come from the node's address are left out by the link (counted 'notFromNode').
 *   2. Data messages: InitiatorTunnel.openDataInto authenticates, checks the replay window (moved only
 *      after the tag verified) and decrypts straight into the next free bytes of the engine's TUN
 *      write slab (one pass, no intermediate copy, no result object per packet). Anything else is a
 *      handshake message for `decapsulate`: a response completes the handshake ('handshakeComplete':
 *      its confirming keepalive is sent at once and the engine is told the tunnel parameters); the
 *      TUN slab is written out first so packet order is kept around it.
 *   3. The whole batch goes to the TUN with ONE writeSlab call (with offloads, consecutive segments of
 *      one TCP flow become one super-packet for the kernel).
 */
import { NOT_DATA_MESSAGE } from '@corridor/protocol';
import type { LinkBatch } from './link.js';
import type { EngineCore } from './engine.js';

function flushTun(core: EngineCore, count: number): void {
  if (count === 0) return;
  const written = core.tun.writeSlab(core.tunSlab, core.tunLengths, count);
  if (written < count) core.drops.tunFull += count - written;
}

export function receiveLinkBatch(core: EngineCore, batch: LinkBatch): void {
  const tunnel = core.tunnel;
  const now = core.clock();
  const slab = core.tunSlab;
  const lengths = core.tunLengths;
  const counters = core.counters;
  let count = 0;
  let off = 0;
  for (let i = 0; i < batch.count; i++) {
    const message = batch.message(i);
    if (message === undefined) {
      core.drops.notFromNode++;
      continue;
    }
    if (slab.length - off < message.length || count === lengths.length) {
      flushTun(core, count);
      count = 0;
      off = 0;
    }
    const n = tunnel.openDataInto(message, slab, off, now);
    if (n > 0) {
      lengths[count++] = n;
      off += n;
      counters.rxPackets++;
      counters.rxBytes += n;
      counters.lastReceiveAt = now;
      continue;
    }
    if (n === 0) {
      counters.lastReceiveAt = now; // keepalive
      continue;
    }
    if (n !== NOT_DATA_MESSAGE) continue; // counted per reason in tunnel.drops
    flushTun(core, count);
    count = 0;
    off = 0;
    const r = tunnel.decapsulate(message, core.scratch, now);
    if (r.type === 'handshakeComplete') {
      core.sendHandshake(r.data, now);
      core.handshakeComplete(r.params, now);
    } else if (r.type === 'writeToNetwork') {
      core.sendHandshake(r.data, now);
    } else if (r.type === 'done') {
      counters.lastReceiveAt = now;
    }
  }
  flushTun(core, count);
  core.flush();
}
