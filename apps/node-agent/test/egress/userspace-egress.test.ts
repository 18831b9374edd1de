/**
 * The userspace egress engine without root: a client-side Netstack (address 10.8.0.2) wired straight
 * to a UserspaceEgress (the node side), real sockets on loopback behind it. Loopback is refused by the
 * default policy, so these tests allow 127.0.0.0/8 explicitly, except where the refusal is the point.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { Netstack, type TcpSocket } from '@corridor/netstack';
import { afterEach, describe, expect, it } from 'vitest';
import { EgressPolicy } from '../../src/egress/policy.js';
import { UserspaceEgress } from '../../src/egress/userspace-egress.js';

const subnet4 = { network: '10.8.0.0', prefix: 24, gateway: '10.8.0.1' };
const subnet6 = { network: 'fd00:8::', prefix: 64, gateway: 'fd00:8::1' };

interface Rig {
  egress: UserspaceEgress;
  client: Netstack;
  /** Every packet the egress sent towards clients (copies). */
  out: Buffer[];
  close(): void;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function rig(
  allow: string[] = ['127.0.0.0/8'],
  opts: { ping?: boolean; maxFlowsPerClient?: number; udpIdleMs?: number } = {},
): Rig {
  const policy = new EgressPolicy({ deny: ['default'], allow }, { subnet4, subnet6, nodeNetworks: [] });
  const egress = new UserspaceEgress({
    subnet4,
    subnet6,
    mtu: 1420,
    policy,
    ping: false,
    testLoopbackDestinations: true,
    ...opts,
  });
  const out: Buffer[] = [];
  let client: Netstack | null = null;
  egress.onPackets((batch) => {
    for (let i = 0; i < batch.count; i++) {
      const p = batch.packet(i);
      out.push(Buffer.from(p));
      client?.input(p);
    }
    // Hostile to views kept past the call: scribble over the slab.
    batch.slab.fill(0xee, 0, Math.min(batch.slab.length, 4096));
  });
  client = new Netstack({
    acceptMartians: true, // the far ends are on this machine's loopback
    addresses: ['10.8.0.2', 'fd00:8::2'],
    mtu: 1420,
    sink: (p) => {
      egress.write(p);
    },
  });
  const r = {
    egress,
    client,
    out,
    close: () => {
      client.close();
      void egress.close();
    },
  };
  cleanups.push(r.close);
  return r;
}

async function server(onConn: (s: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const srv = net.createServer(onConn);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => srv.close());
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

function connectErr(s: TcpSocket): Promise<string> {
  return new Promise((resolve) => {
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.on('connect', () => resolve('connected'));
  });
}

describe('userspace egress', () => {
  it('relays TCP both ways with exact bytes (2 MiB up, 4 MiB down) and half-close', async () => {
    const up = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < up.length; i++) up[i] = (i * 7 + 3) & 255;
    const down = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < down.length; i++) down[i] = (i * 13 + 1) & 255;
    let received = Buffer.alloc(0);
    const srv = await server((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => {
        received = Buffer.concat(chunks);
        s.end(down);
      });
    });
    const r = rig();
    const sock = r.client.connect({ host: '127.0.0.1', port: srv.port });
    const got: Buffer[] = [];
    sock.on('data', (d: Buffer) => got.push(Buffer.from(d)));
    const ended = new Promise<void>((res) => sock.on('end', () => res()));
    sock.end(up);
    await ended;
    expect(received.equals(up)).toBe(true);
    expect(Buffer.concat(got).equals(down)).toBe(true);
    expect(r.egress.egressStats().tcpAccepted).toBe(1);
  }, 60_000);

  it('relays TCP over IPv6', async () => {
    const srv = net.createServer((s) => s.end('v6 ok'));
    await new Promise<void>((r) => srv.listen(0, '::1', r));
    cleanups.push(() => srv.close());
    const r = rig(['127.0.0.0/8', '::1/128']);
    const s = r.client.connect({ host: '::1', port: (srv.address() as net.AddressInfo).port });
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(Buffer.from(d)));
    await new Promise<void>((res) => s.on('end', () => res()));
    expect(Buffer.concat(got).toString()).toBe('v6 ok');
    s.destroy();
  });

  it('completes the handshake only after the real dial: a closed port is a RST (ECONNREFUSED)', async () => {
    const srv = await server(() => {});
    const port = srv.port;
    srv.close();
    await new Promise((res) => setTimeout(res, 50));
    const r = rig();
    const s = r.client.connect({ host: '127.0.0.1', port });
    expect(await connectErr(s)).toBe('ECONNREFUSED');
    expect(r.egress.egressStats().tcpDialFailed.ECONNREFUSED).toBe(1);
    expect(r.egress.egressStats().tcpAccepted).toBe(0);
    // No SYN-ACK ever went to the client: only a RST.
    const synAcks = r.out.filter((p) => p[0]! >> 4 === 4 && p[9] === 6 && (p[20 + 13]! & 0x12) === 0x12);
    expect(synAcks).toHaveLength(0);
  });

  it('refuses denied destinations before any socket, with ICMP admin-prohibited, counted by reason', async () => {
    let accepted = 0;
    const srv = await server(() => accepted++);
    const r = rig([]); // loopback not allowed
    const s = r.client.connect({ host: '127.0.0.1', port: srv.port });
    const err = await connectErr(s);
    expect(err).not.toBe('connected');
    expect(['EHOSTUNREACH', 'ENETUNREACH', 'ECONNREFUSED']).toContain(err);
    expect(r.egress.policy.refused.loopback).toBeGreaterThanOrEqual(1);
    expect(accepted).toBe(0);
    const icmp = r.out.find((p) => p[0]! >> 4 === 4 && p[9] === 1);
    expect(icmp?.[20]).toBe(3); // destination unreachable
    expect(icmp?.[21]).toBe(13); // administratively prohibited
    const u = r.client.bindUdp();
    const udpErrors: string[] = [];
    u.on('error', (e) => udpErrors.push(e.code));
    u.send('x', 53, '169.254.169.254');
    u.send('x', 53, '10.20.30.40');
    await new Promise((res) => setTimeout(res, 20));
    expect(r.egress.policy.refused.metadata).toBe(1);
    expect(r.egress.policy.refused.private).toBe(1);
    expect(udpErrors).toContain('EHOSTUNREACH'); // the client's stack saw the ICMP refusal
    u.close();
  });

  it('relays UDP per flow (a DNS-like echo) and expires idle flows', async () => {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((res) => udp.bind(0, '127.0.0.1', res));
    cleanups.push(() => udp.close());
    udp.on('message', (m, ri) => udp.send(Buffer.concat([Buffer.from('re:'), m]), ri.port, ri.address));
    const r = rig(['127.0.0.0/8'], { udpIdleMs: 300 });
    const u = r.client.bindUdp();
    const reply = new Promise<string>((res) => u.on('message', (m) => res(m.toString())));
    u.send('hello', (udp.address() as net.AddressInfo).port, '127.0.0.1');
    expect(await reply).toBe('re:hello');
    expect(r.egress.egressStats().udpOpen).toBe(1);
    for (let i = 0; i < 40 && r.egress.egressStats().udpOpen > 0; i++)
      await new Promise((res) => setTimeout(res, 50));
    expect(r.egress.egressStats().udpOpen).toBe(0); // the idle flow and its socket are gone
    u.close();
  });

  it('answers echo to the gateway itself; echo elsewhere is host-unreachable when ping is not permitted', async () => {
    const r = rig(['127.0.0.0/8'], { ping: false });
    const echo = (dst: number[]) => {
      const p = Buffer.alloc(28 + 8);
      p[0] = 0x45;
      p.writeUInt16BE(p.length, 2);
      p[8] = 64;
      p[9] = 1;
      p.set([10, 8, 0, 2], 12);
      p.set(dst, 16);
      p[20] = 8;
      p.writeUInt16BE(0x1234, 24);
      p.writeUInt16BE(1, 26);
      // IPv4 header checksum
      let s = 0;
      for (let i = 0; i < 20; i += 2) s += p.readUInt16BE(i);
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      p.writeUInt16BE(~s & 0xffff, 10);
      s = 0;
      for (let i = 20; i < p.length; i += 2) s += p.readUInt16BE(i);
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      p.writeUInt16BE(~s & 0xffff, 22);
      return p;
    };
    r.egress.write(echo([10, 8, 0, 1]));
    r.egress.write(echo([127, 0, 0, 1]));
    await new Promise((res) => setTimeout(res, 30));
    const icmp = r.out.filter((p) => p[9] === 1);
    const reply = icmp.find((p) => p[20] === 0);
    expect(reply && [...reply.subarray(12, 16)]).toEqual([10, 8, 0, 1]);
    const unreach = icmp.find((p) => p[20] === 3);
    expect(unreach?.[21]).toBe(1); // host unreachable: never a fake reply
    expect(unreach && [...unreach.subarray(28 + 16, 28 + 20)]).toEqual([127, 0, 0, 1]);
    expect(r.egress.egressStats().drops.echoNotPermitted).toBe(1);
  });

  it('closeClient (a session ended) resets the client connections and the upstream sockets', async () => {
    let upstream: net.Socket | null = null;
    const upClosed = new Promise<void>((res) => {
      void server((s) => {
        upstream = s;
        s.on('close', () => res());
        s.on('error', () => {});
      }).then((srv) => {
        const r = rig();
        const sock = r.client.connect({ host: '127.0.0.1', port: srv.port });
        sock.on('error', () => {});
        sock.on('connect', () => {
          setTimeout(() => {
            expect(r.egress.closeClient(['10.8.0.2'])).toBe(1);
          }, 20);
        });
      });
    });
    await upClosed;
    expect(upstream).not.toBeNull();
  });

  it('limits flows per client', async () => {
    const srv = await server(() => {});
    const r = rig(['127.0.0.0/8'], { maxFlowsPerClient: 2 });
    const socks = [0, 1, 2].map(() => r.client.connect({ host: '127.0.0.1', port: srv.port }));
    const res = await Promise.all(socks.map(connectErr));
    expect(res.filter((x) => x === 'connected')).toHaveLength(2);
    expect(res.filter((x) => x === 'ECONNREFUSED')).toHaveLength(1);
    expect(r.egress.egressStats().drops.clientFlowLimit).toBe(1);
  });

  it('hairpins packets to other clients and takes hostile bytes without throwing', () => {
    const r = rig();
    const p = Buffer.alloc(40);
    p[0] = 0x45;
    p.writeUInt16BE(40, 2);
    p[9] = 17;
    p.set([10, 8, 0, 2], 12);
    p.set([10, 8, 0, 9], 16);
    r.egress.write(p);
    // Garbage of every length and a few shaped lies.
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 255;
    const lengths = new Uint32Array(400);
    const slab = Buffer.alloc(400 * 200);
    let off = 0;
    for (let i = 0; i < 400; i++) {
      const len = i % 90;
      for (let k = 0; k < len; k++) slab[off + k] = rnd();
      if (i % 3 === 0 && len > 0) slab[off] = 0x40 | (slab[off]! & 15); // claims IPv4
      if (i % 3 === 1 && len > 0) slab[off] = 0x60; // claims IPv6
      lengths[i] = len;
      off += len;
    }
    expect(() => r.egress.writeSlab(slab, lengths, 400)).not.toThrow();
    expect(r.egress.drops.malformed).toBeGreaterThan(0);
    return new Promise<void>((res) =>
      setImmediate(() => {
        expect(r.out.some((o) => o.equals(p))).toBe(true);
        res();
      }),
    );
  });
});
