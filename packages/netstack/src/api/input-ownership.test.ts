/**
 * input() copies what it keeps (README): a caller may reuse or scribble over the packet as soon as
 * input() returns, also when the packet is a Node Buffer (whose slice() is a view, not a copy) —
 * which is what TUN devices and tunnel sockets hand over.
 */
import { describe, expect, it } from 'vitest';
import { buildIcmp, buildUdp } from '../testing/packets.js';
import { Netstack } from './netstack.js';

const settle = () => new Promise((r) => setImmediate(r));

describe('Netstack.input ownership', () => {
  it('a UDP datagram in a Buffer the caller scribbles over right after input() arrives intact', async () => {
    const ns = new Netstack({ addresses: ['10.8.0.12'], mtu: 1420, sink: () => undefined });
    const sock = ns.bindUdp({ port: 5353 });
    const got: string[] = [];
    sock.on('message', (m) => got.push(m.toString()));
    const pkt = Buffer.from(
      buildUdp({ src: '10.8.0.1', dst: '10.8.0.12', sport: 53, dport: 5353, payload: Buffer.from('answer') }),
    );
    ns.input(pkt);
    pkt.fill(0xee);
    await settle();
    expect(got).toEqual(['answer']);
    ns.close();
  });

  it('an echo request body handed to onIcmpEcho survives the caller reusing its Buffer', async () => {
    const ns = new Netstack({ addresses: ['10.8.0.1'], mtu: 1420, sink: () => undefined });
    const bodies: string[] = [];
    ns.onIcmpEcho((req) => bodies.push(Buffer.from(req.data).toString()));
    const pkt = Buffer.from(
      buildIcmp({
        src: '10.8.0.12',
        dst: '198.51.100.7',
        type: 8,
        code: 0,
        word1: 1,
        word2: 1,
        body: Buffer.from('ping'),
      }),
    );
    // A valid checksum is needed: buildIcmp computes it.
    ns.input(pkt);
    pkt.fill(0xee);
    await settle();
    expect(bodies).toEqual(['ping']);
    ns.close();
  });
});
