import { describe, expect, it } from 'vitest';
import { SimNetwork } from '../testing/sim.js';

describe('api smoke', () => {
  it('echo', async () => {
    const net = new SimNetwork(3);
    const a = net.addNetstack('a', { addresses: ['10.0.0.1'] }, { delayMs: 5, loss: 0.05 });
    const b = net.addNetstack('b', { addresses: ['10.0.0.2'] }, { delayMs: 5, loss: 0.05 });
    b.netstack.listen({ port: 7 }, (s) => s.pipe(s));
    const c = a.netstack.connect({ host: '10.0.0.2', port: 7 });
    const data = Buffer.alloc(500_000, 7);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const got: Buffer[] = [];
    let ended = false;
    let closed = false;
    c.on('data', (d: Buffer) => got.push(d));
    c.on('end', () => (ended = true));
    c.on('close', () => (closed = true));
    c.end(data);
    const ok = await net.run(() => closed, 600_000);
    console.log(ok, net.clock.now, Buffer.concat(got).length, ended);
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });
});
