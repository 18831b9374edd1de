/**
 * Receive path: node -> open -> TUN, one call per batch the link read.
 *
 *   1. The link hands over messages: views valid only during this call. UDP messages that did not
 *      come from the node's address are left out by the link (counted 'notFromNode').
 *   2. Each message goes to InitiatorTunnel.decapsulate, data decrypted IN PLACE
 *      (out = message.subarray(DATA_HEADER_BYTES)); authentication, then the replay window, inside
 *      the tunnel. A handshake response completes the handshake ('handshakeComplete': its confirming
 *      keepalive is sent at once and the engine is told the tunnel parameters).
 *   3. Decrypted packets are collected (views, no copies) and written to the TUN in one batch at the
 *      end, while the views are still valid.
 */
import { DATA_HEADER_BYTES } from '@corridor/protocol';
import type { LinkBatch } from './link.js';
import type { EngineCore } from './engine.js';

export function receiveLinkBatch(core: EngineCore, batch: LinkBatch): void {
  const tunnel = core.tunnel;
  const now = core.clock();
  const pending = core.tunWrites;
  let n = 0;
  for (let i = 0; i < batch.count; i++) {
    const message = batch.message(i);
    if (message === undefined) {
      core.drops.notFromNode++;
      continue;
    }
    const out = message.length > DATA_HEADER_BYTES ? message.subarray(DATA_HEADER_BYTES) : message;
    const r = tunnel.decapsulate(message, out, now);
    switch (r.type) {
      case 'writeToTun':
        pending[n++] = r.data;
        core.counters.rxPackets++;
        core.counters.rxBytes += r.data.length;
        break;
      case 'handshakeComplete':
        core.sendHandshake(r.data, now);
        core.handshakeComplete(r.params, now);
        break;
      case 'writeToNetwork':
        core.sendHandshake(r.data, now);
        break;
      case 'done':
        core.counters.lastReceiveAt = now;
        break;
      case 'error':
        break; // counted per reason in tunnel.drops
    }
    if (r.type === 'writeToTun') core.counters.lastReceiveAt = now;
  }
  if (n > 0) {
    pending.length = n;
    const written = core.tun.writeBatch(pending);
    if (written < n) core.drops.tunFull += n - written;
    pending.length = 0;
  }
  core.flush();
}
