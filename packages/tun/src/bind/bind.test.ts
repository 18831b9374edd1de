// The Bind seam: the same echo exchange over UDP (loopback), TCP (loopback) and the in-memory network,
// plus each implementation's own failure modes.
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_FRAME_PAYLOAD_BYTES, MIN_WIRE_MESSAGE_BYTES, encodeFrame } from '@corridor/protocol';
import net from 'node:net';
import {
  MemoryEndpoint,
  SendSlab,
  TcpClientBind,
  TcpServerBind,
  UdpBind,
  UdpEndpoint,
  createMemoryNetwork,
  type Bind,
  type BindEndpoint,
  type ReceivedBatch,
} from './index.js';
import { isUdpAvailable } from '../udp/index.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((f) => f()));
});
function track<T extends Bind>(b: T): T {
  cleanups.push(() => b.close());
  return b;
}

/** Makes `server` echo every message back to its sender, uppercased, through one send() per batch. */
function echo(server: Bind): void {
  const slab = server.createSendSlab(64);
  server.onReceive((batch) => {
    slab.clear();
    for (let i = 0; i < batch.count; i++) {
      const d = batch.datagram(i);
      const slot = slab.next()!;
      for (let k = 0; k < d.length; k++)
        slot[k] =
          (d[k] as number) >= 97 && (d[k] as number) <= 122 ? (d[k] as number) - 32 : (d[k] as number);
      slab.pushTo(d.length, batch.endpoint(i));
    }
    server.send(slab);
  });
}

function receiveN(bind: Bind, n: number): Promise<{ text: string; from: BindEndpoint }[]> {
  const seen: { text: string; from: BindEndpoint }[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`received ${seen.length}/${n}`)), 5000);
    bind.onReceive((batch: ReceivedBatch) => {
      for (let i = 0; i < batch.count; i++)
        seen.push({ text: batch.datagram(i).toString(), from: batch.endpoint(i) });
      if (seen.length >= n) {
        clearTimeout(t);
        resolve(seen);
      }
    });
  });
}

/**
 * A test message as long as the smallest protocol message (32 bytes): TCP frames shorter than that
 * are refused by the protocol's FrameDecoder.
 */
const msg = (word: string): string => word.padEnd(32, '.');

async function exchange(client: Bind, server: Bind, serverEp: BindEndpoint): Promise<void> {
  echo(server);
  const got = receiveN(client, 3);
  const slab = client.createSendSlab(8);
  for (const word of ['alpha', 'beta', 'gamma']) slab.pushCopyTo(Buffer.from(msg(word)), serverEp);
  expect(client.send(slab)).toBe(3);
  slab.slab.fill(0); // the bind copied before returning
  const seen = await got;
  expect(seen.map((s) => s.text).sort()).toEqual(['ALPHA', 'BETA', 'GAMMA'].map(msg));
  expect(seen.every((s) => s.from.key === seen[0]!.from.key)).toBe(true);
}

describe.skipIf(!isUdpAvailable())('UdpBind', () => {
  it('echoes through a server bind to a client bind, replying to the source endpoint', async () => {
    const server = track(UdpBind.open({ address: '127.0.0.1', gro: true }));
    const client = track(UdpBind.open({ address: '127.0.0.1', gro: false }));
    await exchange(client, server, UdpEndpoint.of('127.0.0.1', server.localPort));
    expect(server.stats()).toMatchObject({ rxPackets: 3, txPackets: 3 });
  });
});

describe('TcpServerBind / TcpClientBind', () => {
  it('echoes length-prefixed frames, one endpoint per connection', async () => {
    const server = track(await TcpServerBind.listen({ host: '127.0.0.1' }));
    const client = track(await TcpClientBind.connect({ host: '127.0.0.1', port: server.localPort }));
    await exchange(client, server, client.remote);
    expect(server.connectionCount).toBe(1);
  });

  it('reassembles frames split anywhere and drops a connection that sends a bad frame', async () => {
    const server = track(await TcpServerBind.listen({ host: '127.0.0.1' }));
    const got = receiveN(server, 2);
    const closed = new Promise<BindEndpoint>((r) => server.once('endpointClosed', r));
    const raw = net.connect({ host: '127.0.0.1', port: server.localPort });
    cleanups.push(async () => raw.destroy());
    await new Promise((r) => raw.once('connect', r));
    const stream = Buffer.concat([
      encodeFrame(Buffer.from(msg('one'))),
      encodeFrame(Buffer.from(msg('two'))),
    ]);
    for (const b of stream) {
      raw.write(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
    expect((await got).map((s) => s.text)).toEqual([msg('one'), msg('two')]);
    raw.write(Buffer.from([0, 0])); // zero-length frame: protocol violation
    const ep = await closed;
    expect(ep.transport).toBe('tcp');
    expect(server.stats().rxErrors).toBe(1);
    // Sending to a gone connection is a counted drop, not a throw.
    expect(server.sendTo(Buffer.from('late'), ep)).toBe(false);
    expect(server.stats().txDropped).toBe(1);
  });

  it('drops instead of buffering without bound when a peer does not read', async () => {
    const server = track(await TcpServerBind.listen({ host: '127.0.0.1', maxBufferedBytes: 64 * 1024 }));
    const connected = new Promise<BindEndpoint>((r) => server.onReceive((b) => r(b.endpoint(0))));
    const raw = net.connect({ host: '127.0.0.1', port: server.localPort });
    cleanups.push(async () => raw.destroy());
    await new Promise((r) => raw.once('connect', r));
    raw.pause();
    raw.write(encodeFrame(Buffer.from(msg('hi'))));
    const ep = await connected;
    const slab = server.createSendSlab(64);
    let dropped = 0;
    for (let round = 0; round < 200 && dropped === 0; round++) {
      slab.clear();
      while (!slab.full) slab.pushTo(1400, ep);
      dropped += 64 - server.send(slab);
    }
    expect(dropped).toBeGreaterThan(0);
    expect(server.stats().txDropped).toBe(dropped);
  });

  it('drops messages no protocol peer accepts at the sender, so they never cost the connection', async () => {
    const server = track(await TcpServerBind.listen({ host: '127.0.0.1' }));
    const got = receiveN(server, 1);
    const client = track(await TcpClientBind.connect({ host: '127.0.0.1', port: server.localPort }));
    const errors: Error[] = [];
    client.on('error', (e) => errors.push(e));
    // Shorter than the smallest protocol message (the receiving FrameDecoder refuses it and the whole
    // connection with it), empty, and longer than any frame (its u16 length prefix would wrap).
    expect(client.sendTo(Buffer.alloc(MIN_WIRE_MESSAGE_BYTES - 1, 1), client.remote)).toBe(false);
    expect(client.sendTo(Buffer.alloc(0), client.remote)).toBe(false);
    const big = client.createSendSlab(1);
    const huge = new SendSlab({ capacity: 1, slotBytes: 66_000 });
    huge.pushTo(MAX_FRAME_PAYLOAD_BYTES + 1, client.remote);
    expect(client.send(huge)).toBe(0);
    big.pushCopyTo(Buffer.from(msg('after')), client.remote);
    expect(client.send(big)).toBe(1);
    expect((await got).map((s) => s.text)).toEqual([msg('after')]);
    expect(server.stats().rxErrors).toBe(0);
    expect(client.closed).toBe(false);
    expect(client.stats()).toMatchObject({ txPackets: 1, txDropped: 3 });
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(
      new Array(3).fill('CORRIDOR_ERR_BIND_MESSAGE_SIZE'),
    );
  });

  it('refuses a slab entry outside the slab before writing anything (no uninitialised bytes on the wire)', async () => {
    const server = track(await TcpServerBind.listen({ host: '127.0.0.1' }));
    let received = 0;
    server.onReceive((b) => (received += b.count));
    const client = track(await TcpClientBind.connect({ host: '127.0.0.1', port: server.localPort }));
    const slab = new SendSlab({ capacity: 2, slotBytes: 64 });
    slab.pushCopyTo(Buffer.from(msg('fine')), client.remote);
    slab.pushTo(1000, client.remote); // a caller bug: 1000 bytes claimed in a 64-byte slot at the end
    expect(() => client.send(slab)).toThrow(
      expect.objectContaining({ code: 'CORRIDOR_ERR_BIND_INVALID_ARG' }) as Error,
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(received).toBe(0); // nothing of the refused slab went out, not even its valid first entry
    expect(client.stats().txPackets).toBe(0);
  });

  it('refuses connections beyond maxConnections', async () => {
    const server = track(await TcpServerBind.listen({ host: '127.0.0.1', maxConnections: 1 }));
    const a = track(await TcpClientBind.connect({ host: '127.0.0.1', port: server.localPort }));
    await new Promise((r) => setTimeout(r, 50));
    const b = track(await TcpClientBind.connect({ host: '127.0.0.1', port: server.localPort }));
    await new Promise<void>((r) => b.once('endpointClosed', () => r()));
    expect(server.connectionCount).toBe(1);
    expect(a.closed).toBe(false);
    expect(b.closed).toBe(true);
  });

  /** A raw connection that announces a maximal frame and never finishes it (slowloris). */
  async function stalled(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
    const raw = net.connect({ host: '127.0.0.1', port, localAddress });
    cleanups.push(async () => raw.destroy());
    raw.on('error', () => undefined);
    await new Promise((r) => raw.once('connect', r));
    raw.write(Buffer.from([0xff, 0xe3]));
    raw.write(Buffer.alloc(1000));
    return raw;
  }
  async function until(cond: () => boolean, ms = 2000): Promise<boolean> {
    for (const end = Date.now() + ms; !cond() && Date.now() < end;)
      await new Promise((r) => setTimeout(r, 10));
    return cond();
  }
  const closedSoon = (s: net.Socket, ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (s.destroyed || s.readableEnded) return resolve(true);
      const t = setTimeout(() => resolve(false), ms);
      s.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });

  it('closes connections that deliver no whole frame in time, so stalled peers cannot hold every slot', async () => {
    const server = track(
      await TcpServerBind.listen({ host: '127.0.0.1', maxConnections: 3, handshakeTimeoutMs: 300 }),
    );
    const got = receiveN(server, 1);
    const slow = await Promise.all([0, 1, 2].map(() => stalled(server.localPort)));
    await new Promise((r) => setTimeout(r, 50));
    expect(server.connectionCount).toBe(3);
    // Every slot is taken: a newcomer is refused at once...
    const early = track(await TcpClientBind.connect({ host: '127.0.0.1', port: server.localPort }));
    await new Promise<void>((r) => early.once('endpointClosed', () => r()));
    // ...but not for long: the stalled connections are closed after the handshake timeout.
    expect(await Promise.all(slow.map((s) => closedSoon(s, 3000)))).toEqual([true, true, true]);
    expect(await until(() => server.connectionCount === 0)).toBe(true);
    expect(server.timedOut).toBe(3);
    const honest = track(await TcpClientBind.connect({ host: '127.0.0.1', port: server.localPort }));
    expect(honest.sendTo(Buffer.from(msg('hello')), honest.remote)).toBe(true);
    expect((await got).map((s) => s.text)).toEqual([msg('hello')]);
  });

  it('closes a connection that delivered no whole frame for idleTimeoutMs, even while it trickles bytes', async () => {
    const server = track(
      await TcpServerBind.listen({ host: '127.0.0.1', handshakeTimeoutMs: 5000, idleTimeoutMs: 400 }),
    );
    const got = receiveN(server, 1);
    const raw = net.connect({ host: '127.0.0.1', port: server.localPort });
    cleanups.push(async () => raw.destroy());
    await new Promise((r) => raw.once('connect', r));
    raw.write(encodeFrame(Buffer.from(msg('first'))));
    await got;
    raw.write(Buffer.from([0x01, 0x00])); // a 256-byte frame, one byte every 50 ms: never complete
    const trickle = setInterval(() => raw.writable && raw.write(Buffer.from([0x61])), 50);
    const closed = await closedSoon(raw, 3000);
    clearInterval(trickle);
    expect(closed).toBe(true);
    expect(await until(() => server.connectionCount === 0)).toBe(true);
    expect(server.timedOut).toBe(1);
  });

  it('refuses bad timeout and limit options before listening', async () => {
    await expect(TcpServerBind.listen({ host: '127.0.0.1', idleTimeoutMs: -1 })).rejects.toThrow(RangeError);
    await expect(TcpServerBind.listen({ host: '127.0.0.1', handshakeTimeoutMs: NaN })).rejects.toThrow(
      /handshakeTimeoutMs/,
    );
  });

  it('limits the connections one source address holds at once', async () => {
    const server = track(
      await TcpServerBind.listen({
        host: '127.0.0.1',
        maxConnectionsPerAddress: 2,
        handshakeTimeoutMs: 60_000,
      }),
    );
    const mine = await Promise.all([0, 1, 2].map(() => stalled(server.localPort, '127.0.0.1')));
    expect(await closedSoon(mine[2]!, 2000)).toBe(true);
    expect(await closedSoon(mine[0]!, 100)).toBe(false);
    // Another address still gets in.
    const other = await stalled(server.localPort, '127.0.0.2');
    expect(await closedSoon(other, 200)).toBe(false);
    expect(server.connectionCount).toBe(3);
    // A slot freed by a closed connection can be used again.
    mine[0]!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const again = await stalled(server.localPort, '127.0.0.1');
    expect(await closedSoon(again, 200)).toBe(false);
  });

  it('pads what a padding bind sends to size buckets; the receiver drops the padding frames', async () => {
    const server = track(await TcpServerBind.listen({ host: '127.0.0.1', padding: 'buckets' }));
    // A raw socket sees the wire: one 32-byte message + its padding frame = one 128-byte bucket.
    const raw = net.connect({ host: '127.0.0.1', port: server.localPort });
    cleanups.push(async () => raw.destroy());
    await new Promise((r) => raw.once('connect', r));
    const ep = await new Promise<BindEndpoint>((r) => {
      server.onReceive((b) => r(b.endpoint(0)));
      raw.write(encodeFrame(Buffer.from(msg('hi'))));
    });
    const wire: Buffer[] = [];
    raw.on('data', (c: Buffer) => wire.push(c));
    expect(server.sendTo(Buffer.from(msg('reply')), ep)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    const bytes = Buffer.concat(wire);
    expect(bytes.length).toBe(128);
    expect(bytes.readUInt16BE(0)).toBe(32);
    expect(bytes[2 + 32 + 2]).toBe(5); // the padding message type

    // A non-padding client (padding is the sender's choice) reads the padded stream as the messages.
    const client = track(await TcpClientBind.connect({ host: '127.0.0.1', port: server.localPort }));
    echo(server);
    const got = receiveN(client, 2);
    const slab = client.createSendSlab(4);
    for (const w of ['one', 'two']) slab.pushCopyTo(Buffer.from(msg(w)), client.remote);
    expect(client.send(slab)).toBe(2);
    expect((await got).map((s) => s.text)).toEqual(['ONE', 'TWO'].map(msg));
    expect(client.paddingReceived).toBe(2);
    expect(client.stats().rxPackets).toBe(2);
  });

  it('adopts sockets accepted elsewhere in a standalone server bind (the TLS front uses this)', async () => {
    const server = track(TcpServerBind.standalone({ label: 'tls' }));
    const listener = net.createServer((s) => server.accept(s));
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => listener.close(r)));
    const port = (listener.address() as net.AddressInfo).port;
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise((r) => socket.once('connect', r));
    const client = track(TcpClientBind.fromSocket(socket, { label: 'tls' }));
    await exchange(client, server, client.remote);
    expect(server.transport).toBe('tls');
    expect(client.remote.key).toMatch(/^tls#/);
  });

  it('reports a refused connect', async () => {
    const probe = await TcpServerBind.listen({ host: '127.0.0.1' });
    const port = probe.localPort;
    await probe.close();
    await expect(TcpClientBind.connect({ host: '127.0.0.1', port })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });
});

describe('MemoryBind', () => {
  it('echoes like the real binds', async () => {
    const network = createMemoryNetwork();
    const server = track(network.bind('198.18.0.1', 51820));
    const client = track(network.bind('198.18.0.2'));
    await exchange(client, server, network.endpoint('198.18.0.1', 51820));
  });

  it('scribbles over received messages after the handler, so kept views fail', async () => {
    const network = createMemoryNetwork();
    const a = track(network.bind('198.18.0.1', 1));
    const b = track(network.bind('198.18.0.2', 2));
    let kept: Buffer | undefined;
    const got = new Promise<void>((r) =>
      b.onReceive((batch) => {
        kept = batch.datagram(0);
        expect(kept.toString()).toBe('secret');
        setImmediate(r);
      }),
    );
    a.sendTo(Buffer.from('secret'), network.endpoint('198.18.0.2', 2));
    await got;
    expect([...kept!]).toEqual(new Array(6).fill(0xee));
  });

  it('loses, duplicates and reorders deterministically by seed', async () => {
    const run = async (seed: number) => {
      const network = createMemoryNetwork({ loss: 0.2, duplicate: 0.1, reorder: 0.2, seed });
      const a = track(network.bind('198.18.0.1', 1));
      const b = track(network.bind('198.18.0.2', 2));
      const seen: number[] = [];
      b.onReceive((batch) => {
        for (let i = 0; i < batch.count; i++) seen.push(batch.datagram(i).readUInt16BE(0));
      });
      const slab = a.createSendSlab(200);
      for (let i = 0; i < 200; i++) {
        slab.next()!.writeUInt16BE(i, 0);
        slab.pushTo(2, network.endpoint('198.18.0.2', 2));
      }
      a.send(slab);
      await new Promise((r) => setTimeout(r, 20));
      return { seen, lost: network.lost };
    };
    const first = await run(7);
    const again = await run(7);
    expect(again).toEqual(first);
    expect(first.lost).toBeGreaterThan(10);
    expect(new Set(first.seen).size).toBe(200 - first.lost);
    expect(first.seen.length).toBeGreaterThan(new Set(first.seen).size); // duplicates
    expect(first.seen).not.toEqual([...first.seen].sort((x, y) => x - y)); // reordered
  });

  it('drops messages to other transports and after close without throwing', async () => {
    const network = createMemoryNetwork();
    const a = network.bind('198.18.0.1', 1);
    expect(a.sendTo(Buffer.from('x'), UdpEndpoint.of('127.0.0.1', 9))).toBe(false);
    await a.close();
    expect(a.sendTo(Buffer.from('x'), new MemoryEndpoint('198.18.0.2', 2))).toBe(false);
    expect(a.stats().txDropped).toBe(2);
    expect(() => network.bind('198.18.0.3', 3) && network.bind('198.18.0.3', 3)).toThrow(/already bound/);
  });
});
