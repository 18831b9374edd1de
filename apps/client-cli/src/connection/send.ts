/**
 * Send path: TUN -> seal -> node, one call per TUN read batch.
 *
 *   1. The TUN hands over a batch of packets laid out in its read slab (valid only during this call;
 *      with TCP offloads the addon already cut the kernel's super-packets into MTU-sized packets).
 *   2. Each packet is sealed by InitiatorTunnel.sealInto straight from the TUN slab (by offset) into
 *      the next slot of the link's outbox (header in front, tag behind; one pass, no intermediate
 *      copy, no view or result object per packet). A full outbox is flushed and the packet goes into
 *      the emptied one.
 *   3. One flush for the whole batch: one sendmmsg (UDP; runs of equal-sized datagrams go out as UDP
 *      GSO) or one write (TCP).
 *
 * Without a link (reconnecting) packets are dropped and counted ('noLink'): nothing leaves the tunnel
 * interface unencrypted, whatever happens. Without a session (NEEDS_HANDSHAKE) the packet goes to
 * `encapsulate`, which answers with a handshake initiation (queued as a copy) or drops it
 * ('noSession', counted by the tunnel).
 */
import { NEEDS_HANDSHAKE } from '@corridor/protocol';
import type { PacketBatch } from '@corridor/tun';
import type { EngineCore } from './engine.js';

export function sendTunBatch(core: EngineCore, batch: PacketBatch): void {
  const link = core.link;
  if (link === null) {
    core.drops.noLink += batch.count;
    return;
  }
  const tunnel = core.tunnel;
  const now = core.clock();
  const slab = batch.slab;
  const counters = core.counters;
  for (let i = 0; i < batch.count; i++) {
    let slot = link.reserve();
    if (slot === undefined) {
      core.flush();
      slot = link.reserve();
      if (slot === undefined) {
        core.drops.linkFull++;
        continue;
      }
    }
    const off = batch.offset(i);
    const len = batch.length(i);
    const n = tunnel.sealInto(slab, off, len, slot, now);
    if (n > 0) {
      link.commit(n);
      counters.txPackets++;
      counters.txBytes += len;
    } else if (n === NEEDS_HANDSHAKE) {
      const r = tunnel.encapsulate(batch.packet(i), slot, now);
      if (r.type === 'writeToNetwork') core.sendHandshake(r.data, now); // an initiation
    }
    // -1: dropped and counted by the tunnel (tunnel.drops: packetTooLarge, closed...).
  }
  core.flush();
}
