/**
 * Send path: TUN -> seal -> node, one call per TUN read batch.
 *
 *   1. The TUN hands over a batch of packets: views into its slab, valid only during this call.
 *   2. Each packet is sealed by InitiatorTunnel.encapsulate straight from the TUN slab into the next
 *      slot of the link's outbox (counter, ChaCha20-Poly1305; no intermediate copy, no allocation of
 *      packet buffers). A full outbox is flushed and the packet goes into the emptied one.
 *   3. One flush for the whole batch: one sendmmsg (UDP) or one write (TCP).
 *
 * Without a link (reconnecting) packets are dropped and counted ('noLink'): nothing leaves the tunnel
 * interface unencrypted, whatever happens. Without a session the tunnel answers with a handshake
 * initiation (queued as a copy) or drops the packet ('noSession', counted by the tunnel).
 */
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
  for (let i = 0; i < batch.count; i++) {
    const packet = batch.packet(i);
    let slot = link.reserve();
    if (slot === undefined) {
      core.flush();
      slot = link.reserve();
      if (slot === undefined) {
        core.drops.linkFull++;
        continue;
      }
    }
    const r = tunnel.encapsulate(packet, slot, now);
    if (r.type === 'writeToNetwork') {
      if (r.data.buffer === slot.buffer && r.data.byteOffset === slot.byteOffset) {
        link.commit(r.data.length);
        core.counters.txPackets++;
        core.counters.txBytes += packet.length;
      } else {
        core.sendHandshake(r.data, now); // an initiation: no session yet
      }
    }
    // 'error' results (noSession, packetTooLarge...) are counted by the tunnel's drop counters.
  }
  core.flush();
}
