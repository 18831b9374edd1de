// input() copies what it keeps even when the packet is a Node Buffer (whose slice() is a view, not a
// copy): a UDP datagram or an echo request queued until the next poll must survive the caller reusing
// its buffer right after input() returns.
import { describe, expect, it } from 'vitest';
import { buildIcmp, buildUdp } from '../testing/packets.js';
import { Netstack } from './netstack.js';

describe('Netstack.input with Buffer packets', () => {
  it('keeps UDP payloads and echo data intact after the caller scribbles over its buffer', async () => {
    const ns = new Netstack({ addresses: ['10.0.0.1'], mtu: 1500, sink: () => {}, timers: false });
    const u = ns.bindUdp({ port: 53 });
    const got: string[] = [];
    u.on('message', (m) => got.push(m.toString()));
    const echoes: string[] = [];
    ns.onIcmpEcho((req) => echoes.push(Buffer.from(req.data).toString()));
    const slab = Buffer.alloc(4096);
    const udp = buildUdp({
      src: '10.0.0.2',
      dst: '10.0.0.1',
      sport: 999,
      dport: 53,
      payload: Buffer.from('query'),
    });
    slab.set(udp, 0);
    ns.input(slab.subarray(0, udp.length));
    const icmp = buildIcmp({
      src: '10.0.0.2',
      dst: '198.51.100.7',
      type: 8,
      code: 0,
      word1: 1,
      word2: 2,
      body: Buffer.from('ping'),
    });
    slab.set(icmp, 0);
    ns.input(slab.subarray(0, icmp.length));
    slab.fill(0xee);
    await Promise.resolve();
    ns.runPoll();
    expect(got).toEqual(['query']);
    expect(echoes).toEqual(['ping']);
    ns.close();
  });
});
