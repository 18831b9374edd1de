// Engine behaviour through the Stack API: connection lifecycle edge cases, accept-any, UDP, ICMP,
// fragments, limits, and hostile input (floods and garbage never throw and never grow memory
// beyond the configured bounds).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Stack } from './stack.js';
import { EV_CLOSED, EV_CONNECTED, type Tcb } from './tcp/tcb.js';
import { acceptAll, BulkReceiver, BulkSender } from './testing/engine-apps.js';
import { buildIcmp, buildTcp, buildUdp, decode } from './testing/packets.js';
import { Prng } from './testing/prng.js';
import { SimNetwork } from './testing/sim.js';

function pair(seed = 1, link = { delayMs: 5 }) {
  const net = new SimNetwork(seed);
  const a = net.addNode('a', { addresses: ['10.0.0.1', 'fd00::1'] }, link);
  const b = net.addNode('b', { addresses: ['10.0.0.2', 'fd00::2'] }, link);
  return { net, a, b };
}

/** Records the events and final state of a Tcb. */
function watch(t: Tcb) {
  const w = { connected: false, closed: false, error: null as string | null };
  t.handler = {
    onTcpEvents(tcb, ev) {
      if (ev & EV_CONNECTED) w.connected = true;
      if (ev & EV_CLOSED) {
        w.closed = true;
        w.error = tcb.error;
      }
      tcb.skip(tcb.readableLength);
    },
  };
  return w;
}

/** A stack whose output is collected (decoded) for assertions. */
function probe(opts: Partial<ConstructorParameters<typeof Stack>[0]> = {}) {
  const out: ReturnType<typeof decode>[] = [];
  let now = 0;
  const rng = new Prng(7);
  const stack = new Stack({
    addresses: ['10.0.0.1', 'fd00::1'],
    clock: () => now,
    random: (b) => rng.fill(b),
    sink: (p) => out.push(decode(p.slice())),
    ...opts,
  });
  return {
    stack,
    out,
    at(t: number) {
      now = t;
    },
  };
}

describe('connection lifecycle', () => {
  it('simultaneous open: both sides connect to each other and both get ESTABLISHED', () => {
    const { net, a, b } = pair();
    const ta = a.stack.tcpConnect({ host: '10.0.0.2', port: 5000, localPort: 6000 });
    const tb = b.stack.tcpConnect({ host: '10.0.0.1', port: 6000, localPort: 5000 });
    const wa = watch(ta);
    const wb = watch(tb);
    expect(net.runSync(() => wa.connected && wb.connected, 10_000)).toBe(true);
    expect([ta.stateName, tb.stateName]).toEqual(['ESTABLISHED', 'ESTABLISHED']);
  });

  it('simultaneous close: both end in TIME-WAIT, then disappear', () => {
    const { net, a, b } = pair();
    let server: Tcb | undefined;
    acceptAll(b.stack.tcpListen({ port: 80 }), (t) => (server = t));
    const c = a.stack.tcpConnect({ host: '10.0.0.2', port: 80 });
    watch(c);
    net.runSync(() => server !== undefined, 1000);
    watch(server!);
    c.close();
    server!.close();
    net.runSync(() => c.stateName === 'TIME-WAIT' && server!.stateName === 'TIME-WAIT', 1000);
    expect([c.stateName, server!.stateName]).toEqual(['TIME-WAIT', 'TIME-WAIT']);
    net.runSync(() => a.stack.connectionCount === 0 && b.stack.connectionCount === 0, 200_000);
    expect(a.stack.connectionCount + b.stack.connectionCount).toBe(0);
  });

  it('connecting to a port nobody listens on fails with ECONNREFUSED', () => {
    const { net, a } = pair();
    const w = watch(a.stack.tcpConnect({ host: '10.0.0.2', port: 81 }));
    net.runSync(() => w.closed, 10_000);
    expect(w.error).toBe('ECONNREFUSED');
  });

  it('a peer that never answers times out after the SYN retries (ETIMEDOUT)', () => {
    const net = new SimNetwork(2);
    const a = net.addNode('a', { addresses: ['10.0.0.1'], tcp: { synRetries: 2 } }, { loss: 1 });
    net.addNode('b', { addresses: ['10.0.0.2'] });
    const w = watch(a.stack.tcpConnect({ host: '10.0.0.2', port: 80 }));
    net.runSync(() => w.closed, 60_000);
    expect(w.error).toBe('ETIMEDOUT');
    expect(net.clock.now).toBeGreaterThanOrEqual(7000); // 1 + 2 + 4 s
  });

  it('a peer that lost the connection (restarted) answers with RST: ECONNRESET', () => {
    const net = new SimNetwork(3);
    const a = net.addNode('a', { addresses: ['10.0.0.1'] }, { delayMs: 5 });
    const b = net.addNode('b', { addresses: ['10.0.0.2'] }, { delayMs: 5 });
    let server: Tcb | undefined;
    acceptAll(b.stack.tcpListen({ port: 80 }), (t) => (server = t));
    const c = a.stack.tcpConnect({ host: '10.0.0.2', port: 80 });
    const w = watch(c);
    net.runSync(() => server !== undefined, 1000);
    // The server forgets the connection without a word (crash): its RST answers our next data.
    b.stack.connections()[0]!.terminate(null);
    c.send(new Uint8Array(10), 0, 10);
    net.runSync(() => w.closed, 10_000);
    expect(w.error).toBe('ECONNRESET');
  });

  it('keepalive notices a peer that went away (ETIMEDOUT)', () => {
    const net = new SimNetwork(4);
    let down = false;
    const tcp = { keepAliveIdleMs: 1000, keepAliveIntervalMs: 500, keepAliveCount: 3 };
    const a = net.addNode('a', { addresses: ['10.0.0.1'], tcp }, { delayMs: 5, dropIf: () => down });
    const b = net.addNode('b', { addresses: ['10.0.0.2'], tcp }, { delayMs: 5, dropIf: () => down });
    acceptAll(b.stack.tcpListen({ port: 80 }), (t) => watch(t));
    const c = a.stack.tcpConnect({ host: '10.0.0.2', port: 80 });
    const w = watch(c);
    c.setKeepAlive(true);
    net.runSync(() => w.connected, 1000);
    net.runSync(() => false, 5000);
    expect(c.stateName).toBe('ESTABLISHED'); // probes answered while the link is up
    expect(a.stack.stats().tcp.keepAliveProbes).toBeGreaterThan(0);
    down = true;
    net.runSync(() => w.closed, 20_000);
    expect(w.error).toBe('ETIMEDOUT');
  });

  it('a paused receiver closes the window; the sender probes and finishes exactly once it reads', () => {
    const net = new SimNetwork(6);
    const a = net.addNode('a', { addresses: ['10.0.0.1'] }, { delayMs: 5 });
    const b = net.addNode('b', { addresses: ['10.0.0.2'], tcp: { recvBufferSize: 32768 } }, { delayMs: 5 });
    let rx: BulkReceiver | undefined;
    acceptAll(b.stack.tcpListen({ port: 80 }), (t) => {
      rx = new BulkReceiver(t, 6);
      rx.paused = true;
    });
    const tx = new BulkSender(a.stack.tcpConnect({ host: '10.0.0.2', port: 80 }), 500_000, 6);
    net.runSync(() => false, 5000);
    const stuck = a.stack.connections()[0]!;
    expect(stuck.sndWnd).toBe(0);
    expect(a.stack.stats().tcp.zeroWindowProbes).toBeGreaterThan(0);
    expect(rx!.tcb.readableLength).toBeLessThanOrEqual(32768);
    rx!.resume();
    net.runSync(() => rx!.eof, 60_000);
    expect(rx!.received).toBe(500_000);
    expect(rx!.mismatches).toBe(0);
    expect(tx.error).toBeNull();
  });

  it('idle connections hold no buffer memory', () => {
    const { net, a, b } = pair();
    const conns: Tcb[] = [];
    acceptAll(b.stack.tcpListen({ port: 80 }), (t) => conns.push(t));
    for (let i = 0; i < 20; i++) {
      const c = a.stack.tcpConnect({ host: '10.0.0.2', port: 80 });
      c.send(new Uint8Array(1000), 0, 1000);
      watch(c);
    }
    net.runSync(() => conns.length === 20, 5000);
    for (const c of conns) {
      watch(c); // reads from now on
      c.skip(c.readableLength); // and what arrived before the handler was attached
    }
    net.runSync(() => false, 2000);
    expect(a.stack.stats().bufferBytes).toBe(0);
    expect(b.stack.stats().bufferBytes).toBe(0);
  });
});

describe('accept-any listener', () => {
  it('takes connections to any address:port, exposes the original destination, and can defer the SYN-ACK', () => {
    const net = new SimNetwork(8);
    const client = net.addNode('client', { addresses: ['10.8.0.12'] }, { delayMs: 5 });
    const egress = net.addNode('egress', { addresses: ['10.8.0.1'] }, { delayMs: 5 });
    const l = egress.stack.tcpListenAny({ deferred: true });
    const requests: Tcb[] = [];
    l.handler = { onListenerEvents: (x) => void requests.push(...x.queue.splice(0)) };
    const ok = client.stack.tcpConnect({ host: '198.51.100.7', port: 443 });
    const refused = client.stack.tcpConnect({ host: '203.0.113.9', port: 25 });
    const unreachable = client.stack.tcpConnect({ host: '203.0.113.10', port: 80 });
    const wOk = watch(ok);
    const wRefused = watch(refused);
    const wUnreach = watch(unreachable);
    net.runSync(() => requests.length === 3, 1000);
    // Nothing answered yet: the client is still in SYN-SENT.
    expect(ok.stateName).toBe('SYN-SENT');
    const byPort = new Map(requests.map((r) => [r.localPort, r]));
    const r443 = byPort.get(443)!;
    expect(r443.local.toString()).toBe('198.51.100.7');
    expect(r443.remote.toString()).toBe('10.8.0.12');
    egress.stack.acceptRequest(r443);
    egress.stack.rejectRequest(byPort.get(25)!, 'reset');
    egress.stack.rejectRequest(byPort.get(80)!, 'unreachable');
    net.runSync(() => wOk.connected && wRefused.closed && wUnreach.closed, 5000);
    expect(wRefused.error).toBe('ECONNREFUSED');
    expect(wUnreach.error).toBe('EHOSTUNREACH');
    // The accepted connection carries data both ways with the original destination as source.
    const seen: string[] = [];
    net.tap = (from, p) => {
      const d = decode(p);
      if (from === 1 && d.tcp) seen.push(d.src);
    };
    const rx = new BulkReceiver(r443, 1);
    const tx = new BulkSender(ok, 50_000, 1);
    net.runSync(() => rx.eof, 10_000);
    expect(rx.received).toBe(50_000);
    expect(tx.error).toBeNull();
    expect(new Set(seen)).toEqual(new Set(['198.51.100.7']));
    expect(egress.stack.stats().drops.tcpListenerRefused).toBe(2);
  });

  it('resets requests nobody decides on after requestTimeoutMs', () => {
    const net = new SimNetwork(9);
    const client = net.addNode('client', { addresses: ['10.8.0.12'] }, { delayMs: 5 });
    const egress = net.addNode(
      'egress',
      { addresses: ['10.8.0.1'], tcp: { requestTimeoutMs: 2000 } },
      { delayMs: 5 },
    );
    egress.stack.tcpListenAny({ deferred: true });
    const w = watch(client.stack.tcpConnect({ host: '198.51.100.7', port: 443 }));
    net.runSync(() => w.closed, 10_000);
    expect(w.error).toBe('ECONNREFUSED');
    expect(egress.stack.connectionCount).toBe(0);
  });

  it('a port listener takes precedence over the accept-any listener', () => {
    const { net, a, b } = pair();
    const specific: Tcb[] = [];
    const any: Tcb[] = [];
    acceptAll(b.stack.tcpListen({ port: 53 }), (t) => specific.push(t));
    acceptAll(b.stack.tcpListenAny(), (t) => any.push(t));
    watch(a.stack.tcpConnect({ host: '10.0.0.2', port: 53 }));
    watch(a.stack.tcpConnect({ host: '10.0.0.2', port: 54 }));
    watch(a.stack.tcpConnect({ host: '192.168.77.1', port: 53 }));
    net.runSync(() => specific.length + any.length === 3, 2000);
    expect(specific.map((t) => t.localPort)).toEqual([53]);
    expect(any.map((t) => `${t.local.toString()}:${t.localPort}`).sort()).toEqual([
      '10.0.0.2:54',
      '192.168.77.1:53',
    ]);
  });
});

describe('UDP and ICMP', () => {
  it('bound endpoints exchange datagrams; a closed port answers ICMP port unreachable', () => {
    const { net, a, b } = pair();
    const server = b.stack.udpBind({ port: 53 });
    const client = a.stack.udpBind({});
    server.handler = {
      onUdpEvents: () => {
        let r;
        while ((r = server.receive()))
          b.stack.udpSend(server, Uint8Array.from([...r.data, 33]), r.remote, r.remotePort);
      },
    };
    const got: number[][] = [];
    client.handler = {
      onUdpEvents: () => {
        let r;
        while ((r = client.receive())) got.push([...r.data]);
      },
    };
    a.stack.udpSend(client, Uint8Array.from([1, 2]), '10.0.0.2', 53);
    a.stack.udpSend(client, Uint8Array.from([5]), '10.0.0.2', 54);
    net.runSync(() => got.length === 1 && client.error !== null, 1000);
    expect(got).toEqual([[1, 2, 33]]);
    expect(client.takeError()).toBe('ECONNREFUSED');
    expect(b.stack.stats().drops.udpNoListener).toBe(1);
  });

  it('accept-any UDP flows keep the original destination and expire when idle', () => {
    const net = new SimNetwork(10);
    const c = net.addNode('c', { addresses: ['10.8.0.12'] }, { delayMs: 5 });
    const e = net.addNode('e', { addresses: ['10.8.0.1'], udp: { flowIdleMs: 3000 } }, { delayMs: 5 });
    const l = e.stack.udpListenAny();
    const flows: string[] = [];
    l.handler = {
      onNewFlows: (x) => {
        let f;
        while ((f = x.accept())) {
          flows.push(`${f.local.toString()}:${f.localPort}`);
          const r = f.receive()!;
          e.stack.flowSend(f, Uint8Array.from([...r.data].reverse()));
        }
      },
    };
    const ep = c.stack.udpBind({});
    const replies: string[] = [];
    ep.handler = {
      onUdpEvents: () => {
        let r;
        while ((r = ep.receive()))
          replies.push(`${r.remote.toString()}:${r.remotePort}=${[...r.data].join(',')}`);
      },
    };
    c.stack.udpSend(ep, Uint8Array.from([1, 2, 3]), '198.51.100.7', 53);
    c.stack.udpSend(ep, Uint8Array.from([4]), '203.0.113.5', 123);
    net.runSync(() => replies.length === 2, 1000);
    expect(flows.sort()).toEqual(['198.51.100.7:53', '203.0.113.5:123']);
    expect(replies.sort()).toEqual(['198.51.100.7:53=3,2,1', '203.0.113.5:123=4']);
    expect(e.stack.stats().udpFlows).toBe(2);
    net.runSync(() => e.stack.stats().udpFlows === 0, 10_000);
    expect(e.stack.stats().udp.flowsExpired).toBe(2);
  });

  it('answers ICMP echo to its addresses (v4 and v6) and hands others to the echo handler', () => {
    const p = probe();
    p.stack.input(
      buildIcmp({
        src: '10.0.0.9',
        dst: '10.0.0.1',
        type: 8,
        code: 0,
        word1: 7,
        word2: 1,
        body: Uint8Array.from([9, 9]),
      }),
    );
    p.stack.input(buildIcmp({ src: 'fd00::9', dst: 'fd00::1', type: 128, code: 0, word1: 7, word2: 2 }));
    expect(p.out.map((d) => [d.dst, d.icmp!.type, d.icmp!.id, d.icmp!.seq])).toEqual([
      ['10.0.0.9', 0, 7, 1],
      ['fd00::9', 129, 7, 2],
    ]);
    expect([...p.out[0]!.icmp!.body]).toEqual([9, 9]);
    const seen: string[] = [];
    p.stack.setIcmpEchoHandler((r) => {
      seen.push(r.destination.toString());
      p.stack.sendEchoReply(r);
    });
    p.stack.input(buildIcmp({ src: '10.0.0.9', dst: '198.51.100.7', type: 8, code: 0, word1: 1, word2: 1 }));
    p.stack.poll();
    expect(seen).toEqual(['198.51.100.7']);
    expect(p.out[2]).toMatchObject({ src: '198.51.100.7', dst: '10.0.0.9' });
  });

  it('reassembles fragmented datagrams through input(), or refuses them when disabled', () => {
    for (const reassembly of [undefined, false] as const) {
      const p = probe(reassembly === false ? { reassembly: false } : {});
      const ep = p.stack.udpBind({ port: 53 });
      const full = buildUdp({
        src: '10.0.0.9',
        dst: '10.0.0.1',
        sport: 1000,
        dport: 53,
        payload: Uint8Array.from({ length: 3000 }, (_, i) => i & 255),
      });
      // Split the IPv4 packet into fragments of 1480 payload bytes.
      const body = full.subarray(20);
      for (let off = 0; off < body.length; off += 1480) {
        const len = Math.min(1480, body.length - off);
        const f = new Uint8Array(20 + len);
        f.set(full.subarray(0, 20));
        f[2] = (20 + len) >> 8;
        f[3] = (20 + len) & 255;
        const more = off + len < body.length;
        f[6] = (more ? 0x20 : 0) | ((off / 8) >> 8);
        f[7] = (off / 8) & 255;
        f[10] = 0;
        f[11] = 0;
        let s = 0;
        for (let i = 0; i < 20; i += 2) s += (f[i]! << 8) | f[i + 1]!;
        while (s > 0xffff) s = (s & 0xffff) + (s >> 16);
        f[10] = (~s >> 8) & 255;
        f[11] = ~s & 255;
        f.set(body.subarray(off, off + len), 20);
        p.stack.input(f);
      }
      const r = ep.receive();
      if (reassembly === false) {
        expect(r).toBeUndefined();
        expect(p.stack.stats().drops.fragmentRefused).toBe(3);
      } else {
        expect(r!.data.length).toBe(3000);
        expect(r!.data[2999]).toBe(2999 & 255);
        expect(p.stack.stats().ip.reassembled).toBe(1);
      }
    }
  });
});

describe('limits and hostile input', () => {
  it('random bytes never throw and every packet is accounted for (property)', () => {
    const p = probe();
    p.stack.tcpListen({ port: 80 });
    p.stack.udpBind({ port: 53 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.constantFrom(0x45, 0x60, 0x00), (bytes, first) => {
        const b = Uint8Array.from(bytes);
        if (b.length > 0) b[0] = first;
        p.stack.input(b);
        p.stack.poll();
      }),
      { numRuns: 3000 },
    );
    const s = p.stack.stats();
    const dropped = Object.values(s.drops).reduce((x, y) => x + y, 0);
    expect(dropped).toBeGreaterThan(2900);
    p.stack.input(null as unknown as Uint8Array); // not even a buffer
  });

  it('a SYN flood from random sources is answered with cookies: bounded state, real clients still get in', () => {
    const p = probe({ tcp: { synBacklog: 64 } });
    const l = p.stack.tcpListen({ port: 80 });
    const rng = new Prng(99);
    for (let i = 0; i < 20_000; i++) {
      const src = `198.51.${rng.int(256)}.${1 + rng.int(250)}`;
      p.stack.input(
        buildTcp({
          src,
          dst: '10.0.0.1',
          sport: 1024 + rng.int(60000),
          dport: 80,
          seq: rng.nextU32(),
          flags: 'S',
          mss: 1460,
        }),
      );
    }
    p.stack.poll();
    const s = p.stack.stats();
    expect(p.stack.connectionCount).toBeLessThanOrEqual(64);
    expect(s.tcp.synCookiesSent).toBeGreaterThan(19_000);
    expect(s.bufferBytes).toBe(0);
    // A real client completing a cookie handshake gets a connection.
    p.out.length = 0;
    p.stack.input(
      buildTcp({
        src: '10.0.0.50',
        dst: '10.0.0.1',
        sport: 5555,
        dport: 80,
        seq: 1000,
        flags: 'S',
        mss: 1460,
      }),
    );
    p.stack.poll();
    const synack = p.out.find((d) => d.tcp?.flags === 'S.' && d.dst === '10.0.0.50')!;
    p.stack.input(
      buildTcp({
        src: '10.0.0.50',
        dst: '10.0.0.1',
        sport: 5555,
        dport: 80,
        seq: 1001,
        ack: synack.tcp!.seq + 1,
        flags: '.',
      }),
    );
    p.stack.poll();
    const accepted = [];
    let t;
    while ((t = l.accept())) accepted.push(t);
    expect(accepted.some((x) => x.remote.toString() === '10.0.0.50' && x.stateName === 'ESTABLISHED')).toBe(
      true,
    );
  });

  it('a flood of tiny out-of-order segments cannot grow the assembler: data beyond its ranges is dropped', () => {
    const p = probe({ tcp: { timestamps: false, maxOutOfOrderRanges: 8 } });
    const l = p.stack.tcpListen({ port: 80 });
    p.stack.input(
      buildTcp({ src: '10.0.0.9', dst: '10.0.0.1', sport: 4000, dport: 80, seq: 0, flags: 'S', mss: 1460 }),
    );
    p.stack.poll();
    const isn = p.out[0]!.tcp!.seq;
    p.stack.input(
      buildTcp({
        src: '10.0.0.9',
        dst: '10.0.0.1',
        sport: 4000,
        dport: 80,
        seq: 1,
        ack: isn + 1,
        flags: '.',
      }),
    );
    p.stack.poll();
    const t = l.accept()!;
    for (let i = 0; i < 1000; i++) {
      p.stack.input(
        buildTcp({
          src: '10.0.0.9',
          dst: '10.0.0.1',
          sport: 4000,
          dport: 80,
          seq: 100 + i * 10,
          ack: isn + 1,
          flags: '.',
          payload: new Uint8Array(1),
        }),
      );
    }
    p.stack.poll();
    expect(t.assembler.rangeCount).toBe(8);
    expect(p.stack.stats().drops.tcpNoBufferSpace).toBe(992);
    expect(t.stateName).toBe('ESTABLISHED');
  });

  it('garbage segments aimed at an established connection do not disturb a transfer', () => {
    const net = new SimNetwork(12);
    const a = net.addNode('a', { addresses: ['10.0.0.1'] }, { delayMs: 5 });
    const b = net.addNode('b', { addresses: ['10.0.0.2'] }, { delayMs: 5 });
    let rx: BulkReceiver | undefined;
    acceptAll(b.stack.tcpListen({ port: 80 }), (t) => (rx = new BulkReceiver(t, 12)));
    const c = a.stack.tcpConnect({ host: '10.0.0.2', port: 80 });
    const tx = new BulkSender(c, 300_000, 12);
    const rng = new Prng(5);
    let injected = 0;
    net.runSync(() => {
      // Between steps, an off-path attacker guesses sequence numbers with RSTs, SYNs and data.
      if (injected < 3000 && c.localPort !== 0) {
        injected++;
        const flags = ['R', 'S', 'P.', 'R.', 'F.'][rng.int(5)]!;
        b.stack.input(
          buildTcp({
            src: '10.0.0.1',
            dst: '10.0.0.2',
            sport: c.localPort,
            dport: 80,
            seq: rng.nextU32(),
            ack: rng.nextU32(),
            flags,
            payload: new Uint8Array(rng.int(3)),
          }),
        );
      }
      return rx?.eof === true;
    }, 600_000);
    expect(rx!.received).toBe(300_000);
    expect(rx!.mismatches).toBe(0);
    expect(tx.error).toBeNull();
    const d = b.stack.stats().drops;
    expect(
      d.tcpOutOfWindow +
        d.tcpRstOutOfWindow +
        d.tcpBadAck +
        d.tcpChallengeAckLimited +
        d.tcpSynChallenged +
        d.tcpRstChallenged,
    ).toBeGreaterThan(0);
  });

  it('total buffer memory stays within limits.maxBufferBytes; transfers still complete', () => {
    const net = new SimNetwork(31);
    const limits = { maxBufferBytes: 256 * 1024 };
    const a = net.addNode('a', { addresses: ['10.0.0.1'], limits }, { delayMs: 5 });
    const b = net.addNode('b', { addresses: ['10.0.0.2'], limits }, { delayMs: 5 });
    const rxs: BulkReceiver[] = [];
    acceptAll(b.stack.tcpListen({ port: 80 }), (t) => {
      const r = new BulkReceiver(t, t.remotePort);
      r.paused = true; // readers that do not read: every byte stays buffered
      rxs.push(r);
    });
    for (let i = 0; i < 30; i++) {
      const c = a.stack.tcpConnect({ host: '10.0.0.2', port: 80 });
      new BulkSender(c, 100_000, c.localPort);
    }
    let peakA = 0;
    let peakB = 0;
    net.runSync(() => {
      peakA = Math.max(peakA, a.stack.stats().bufferBytes);
      peakB = Math.max(peakB, b.stack.stats().bufferBytes);
      return false;
    }, 5000);
    expect(peakA).toBeLessThanOrEqual(256 * 1024);
    expect(peakB).toBeLessThanOrEqual(256 * 1024);
    expect(b.stack.stats().bufferRefusals).toBeGreaterThan(0);
    for (const r of rxs) r.resume();
    net.runSync(() => rxs.length === 30 && rxs.every((r) => r.eof), 600_000);
    expect(rxs.every((r) => r.received === 100_000 && r.mismatches === 0)).toBe(true);
  });

  it('a full table reuses the oldest TIME-WAIT slot for a new connection', () => {
    const net = new SimNetwork(41);
    const a = net.addNode('a', { addresses: ['10.0.0.1'], limits: { maxConnections: 5 } }, { delayMs: 1 });
    const b = net.addNode('b', { addresses: ['10.0.0.2'] }, { delayMs: 1 });
    // The server closes as soon as it sees our FIN.
    acceptAll(b.stack.tcpListen({ port: 80 }), (t) => {
      t.handler = {
        onTcpEvents(tcb) {
          tcb.skip(tcb.readableLength);
          if (tcb.eof) tcb.close();
        },
      };
    });
    // Five connections that we close first: they all end in TIME-WAIT on our side.
    for (let i = 0; i < 5; i++) {
      const c = a.stack.tcpConnect({ host: '10.0.0.2', port: 80 });
      watch(c);
      net.runSync(() => c.stateName === 'ESTABLISHED', 1000);
      c.close();
      net.runSync(() => c.stateName === 'TIME-WAIT', 1000);
    }
    expect(a.stack.stats().connectionsByState).toEqual({ 'TIME-WAIT': 5 });
    const oldest = a.stack.connections().sort((x, y) => x.id - y.id)[0]!;
    const fresh = a.stack.tcpConnect({ host: '10.0.0.2', port: 80 });
    const w = watch(fresh);
    net.runSync(() => w.connected, 1000);
    expect(a.stack.connectionCount).toBe(5);
    expect(oldest.inTable).toBe(false);
  });

  it('the connection table limit refuses new SYNs and connect() with a clear error', () => {
    const p = probe({ limits: { maxConnections: 2 }, tcp: { synCookies: 'never' } });
    p.stack.tcpListen({ port: 80 });
    for (let i = 0; i < 5; i++) {
      p.stack.input(
        buildTcp({ src: '10.0.0.9', dst: '10.0.0.1', sport: 4000 + i, dport: 80, seq: 0, flags: 'S' }),
      );
    }
    expect(p.stack.connectionCount).toBe(2);
    expect(p.stack.stats().drops.tcpConnectionLimit).toBe(3);
    expect(() => p.stack.tcpConnect({ host: '10.0.0.9', port: 80 })).toThrow(
      /CONNECTION_LIMIT|connection table is full/,
    );
  });

  it("a handler that throws does not lose other connections' events or output", () => {
    const { net, a, b } = pair(51);
    const got: number[] = [];
    acceptAll(b.stack.tcpListen({ port: 80 }), (t) => {
      t.handler = {
        onTcpEvents(tcb) {
          if (tcb.remotePort % 2 === 0 && tcb.readableLength > 0) {
            tcb.skip(tcb.readableLength);
            throw new Error('application bug');
          }
          if (tcb.readableLength > 0) got.push(tcb.skip(tcb.readableLength));
        },
      };
    });
    for (let i = 0; i < 6; i++) {
      const c = a.stack.tcpConnect({ host: '10.0.0.2', port: 80, localPort: 50000 + i });
      c.send(new Uint8Array(100), 0, 100);
      watch(c);
    }
    let thrown = 0;
    for (let k = 0; k < 200 && got.length < 3; k++) {
      try {
        net.runSync(() => got.length === 3, 1000);
      } catch {
        thrown++;
      }
    }
    expect(thrown).toBeGreaterThan(0);
    expect(got).toEqual([100, 100, 100]);
  });

  it('API misuse throws NetstackError with a code; close() aborts everything', () => {
    const p = probe();
    expect(() => p.stack.tcpConnect({ host: 'example.com', port: 80 })).toThrow(
      expect.objectContaining({
        code: 'CORRIDOR_ERR_NETSTACK_INVALID_ADDRESS',
        hint: expect.stringMatching(/resolve host names/),
      }),
    );
    expect(() => p.stack.tcpConnect({ host: '10.0.0.9', port: 0 })).toThrow(
      expect.objectContaining({ code: 'CORRIDOR_ERR_NETSTACK_INVALID_PORT' }),
    );
    expect(() => p.stack.tcpConnect({ host: '2001:db8::1', port: 80, localAddress: '10.0.0.1' })).toThrow(
      expect.objectContaining({ code: 'CORRIDOR_ERR_NETSTACK_INVALID_ADDRESS' }),
    );
    p.stack.tcpListen({ port: 80 });
    expect(() => p.stack.tcpListen({ port: 80 })).toThrow(
      expect.objectContaining({ code: 'CORRIDOR_ERR_NETSTACK_ADDRESS_IN_USE' }),
    );
    expect(() => new Stack({ sink: () => undefined, mtu: 100 })).toThrow(
      expect.objectContaining({ code: 'CORRIDOR_ERR_NETSTACK_INVALID_OPTION' }),
    );
    const noV6 = new Stack({ sink: () => undefined, addresses: ['10.0.0.1'] });
    expect(() => noV6.tcpConnect({ host: 'fd00::9', port: 80 })).toThrow(
      expect.objectContaining({ code: 'CORRIDOR_ERR_NETSTACK_NO_LOCAL_ADDRESS' }),
    );
    const t = p.stack.tcpConnect({ host: '10.0.0.9', port: 80 });
    const w = watch(t);
    p.stack.close();
    expect(w.closed).toBe(true);
    expect(w.error).toBe('ECONNABORTED');
    expect(p.stack.connectionCount).toBe(0);
    p.stack.input(buildTcp({ src: '10.0.0.9', dst: '10.0.0.1', sport: 1, dport: 80, seq: 0, flags: 'S' }));
    expect(() => p.stack.tcpListen({ port: 81 })).toThrow(
      expect.objectContaining({ code: 'CORRIDOR_ERR_NETSTACK_CLOSED' }),
    );
  });
});

/** Cuts an IPv4 packet into one fragment [off, off+len) of its payload (header checksum redone). */
function fragment4(full: Uint8Array, off: number, len: number, more: boolean): Uint8Array {
  const body = full.subarray(20);
  const f = new Uint8Array(20 + len);
  f.set(full.subarray(0, 20));
  f[2] = (20 + len) >> 8;
  f[3] = (20 + len) & 255;
  f[6] = (more ? 0x20 : 0) | ((off / 8) >> 8);
  f[7] = (off / 8) & 255;
  f[10] = 0;
  f[11] = 0;
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (f[i]! << 8) | f[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >> 16);
  f[10] = (~s >> 8) & 255;
  f[11] = ~s & 255;
  f.set(body.subarray(off, Math.min(off + len, body.length)), 20);
  return f;
}

describe('hostile input found in review (issue 14)', () => {
  it('fragments whose byte count matches the final length around a hole are dropped, not thrown past input()', () => {
    const p = probe();
    const ep = p.stack.udpBind({ port: 53 });
    const full = buildUdp({
      src: '10.0.0.9',
      dst: '10.0.0.1',
      sport: 1000,
      dport: 53,
      payload: new Uint8Array(300),
    });
    expect(() => {
      p.stack.input(fragment4(full, 0, 8, true));
      p.stack.input(fragment4(full, 200, 8, true));
      p.stack.input(fragment4(full, 16, 8, false));
      p.stack.poll();
    }).not.toThrow();
    expect(ep.receive()).toBeUndefined();
    expect(p.stack.stats().drops.fragmentInvalid).toBe(1);
    expect(p.stack.stats().reassemblyBytes).toBe(0);
  });
});

describe('accept-any never takes martian destinations (review, issue 14)', () => {
  // A client inside the tunnel must not reach the node's own loopback services through the userspace
  // egress: an accept-any listener that took 127.0.0.1:6379 would hand the egress a request to dial
  // its own Redis. Linux drops these as martians on any non-loopback interface.
  const destinations = ['127.0.0.1', '127.1.2.3', '0.0.0.0', '0.1.2.3', '::1', '::', '::ffff:127.0.0.1'];

  it('TCP SYNs to loopback, "this network" and v4-mapped addresses get no SYN-ACK and no request', () => {
    for (const deferred of [false, true]) {
      const p = probe();
      const l = p.stack.tcpListenAny({ deferred });
      for (const dst of destinations) {
        const src = dst.includes(':') ? 'fd00::9' : '10.0.0.9';
        p.stack.input(buildTcp({ src, dst, sport: 40000, dport: 6379, seq: 1, flags: 'S', mss: 1400 }));
      }
      p.stack.poll();
      expect(p.out.filter((d) => d.tcp !== undefined)).toEqual([]);
      expect(l.accept()).toBeUndefined();
      expect(p.stack.connectionCount).toBe(0);
      expect(p.stack.stats().drops.ipNotForUs).toBe(destinations.length);
    }
  });

  it('UDP to such destinations creates no flow; echo requests to them reach no handler', () => {
    const p = probe();
    const any = p.stack.udpListenAny();
    const echoes: string[] = [];
    p.stack.setIcmpEchoHandler((r) => echoes.push(r.destination.toString()));
    for (const dst of destinations) {
      const src = dst.includes(':') ? 'fd00::9' : '10.0.0.9';
      p.stack.input(buildUdp({ src, dst, sport: 40000, dport: 53, payload: new Uint8Array(4) }));
      const v6 = dst.includes(':');
      p.stack.input(buildIcmp({ src, dst, type: v6 ? 128 : 8, code: 0, word1: 1, word2: 1 }));
    }
    p.stack.poll();
    expect(any.accept()).toBeUndefined();
    expect(p.stack.stats().udpFlows).toBe(0);
    expect(echoes).toEqual([]);
    expect(p.out).toEqual([]);
  });

  it('packets from loopback, "this network" or v4-mapped sources are dropped as bad sources', () => {
    const p = probe();
    p.stack.tcpListen({ port: 80 });
    for (const src of ['127.0.0.1', '0.1.2.3', '::1', '::ffff:10.0.0.9']) {
      const dst = src.includes(':') ? 'fd00::1' : '10.0.0.1';
      p.stack.input(buildTcp({ src, dst, sport: 40000, dport: 80, seq: 1, flags: 'S' }));
    }
    p.stack.poll();
    expect(p.out).toEqual([]);
    expect(p.stack.stats().drops.ipBadSource).toBe(4);
  });
});

describe('deferred accept-any and SYN cookies (review, issue 14)', () => {
  // A deferred request promises that the client sees no SYN-ACK before the application decided (its
  // policy may refuse the destination). A cookie SYN-ACK is exactly that, sent without asking: with
  // synCookies 'always' every destination looked open, and under a flood ('auto') too.
  const syn = (sport: number, dst = '198.51.100.7') =>
    buildTcp({ src: '10.8.0.12', dst, sport, dport: 443, seq: 1000, flags: 'S', mss: 1400, ts: [5, 0] });

  it("synCookies 'always': SYNs still become held requests, no SYN-ACK before acceptRequest()", () => {
    const p = probe({ tcp: { synCookies: 'always' } });
    const l = p.stack.tcpListenAny({ deferred: true });
    p.stack.input(syn(40000));
    p.stack.poll();
    expect(p.out.filter((d) => d.tcp?.flags === 'S.')).toEqual([]);
    const req = l.accept()!;
    expect(req.stateName).toBe('SYN-RECEIVED');
    p.stack.acceptRequest(req);
    p.stack.poll();
    expect(p.out.filter((d) => d.tcp?.flags === 'S.').length).toBe(1);
  });

  it('a full request backlog drops further SYNs (the client retries) instead of answering with cookies', () => {
    const p = probe({ tcp: { synBacklog: 2 } });
    const l = p.stack.tcpListenAny({ deferred: true });
    for (let i = 0; i < 5; i++) p.stack.input(syn(40000 + i));
    p.stack.poll();
    expect(p.out.filter((d) => d.tcp?.flags === 'S.')).toEqual([]);
    expect(p.stack.stats().tcp.synCookiesSent).toBe(0);
    expect(p.stack.stats().drops.tcpSynBacklogFull).toBe(3);
    expect(l.queue.length).toBe(2);
    // An ACK guessing at a cookie never creates a connection behind the application's back.
    p.stack.input(
      buildTcp({
        src: '10.8.0.12',
        dst: '203.0.113.5',
        sport: 41000,
        dport: 22,
        seq: 1001,
        ack: 77,
        flags: '.',
      }),
    );
    p.stack.poll();
    expect(p.stack.stats().tcp.synCookiesAccepted).toBe(0);
    expect(p.stack.connectionCount).toBe(2);
  });
});

describe('challenge ACKs are no side channel (review, issue 14; CVE-2016-5696)', () => {
  // With one stack-wide challenge-ACK budget per second, an off-path attacker who has its own
  // connection to the stack learns whether a spoofed RST hit another connection's window: it spends
  // the rest of the second's budget on its own connection and counts the challenge ACKs it gets back
  // (one fewer when the guess was in the window). Each connection gets at most one challenge ACK per
  // half second (Linux's tcp_invalid_ratelimit), so what the attacker sees no longer depends on what
  // happened to anyone else's connection.
  function world(guessInWindow: boolean): number {
    const p = probe({ tcp: { timestamps: false, challengeAckPerSecond: 100 } });
    const l = p.stack.tcpListen({ port: 80 });
    const open = (src: string, sport: number): { tcb: Tcb; iss: number } => {
      p.out.length = 0;
      p.stack.input(buildTcp({ src, dst: '10.0.0.1', sport, dport: 80, seq: 0, flags: 'S', mss: 1460 }));
      p.stack.poll();
      const iss = p.out[0]!.tcp!.seq;
      p.stack.input(buildTcp({ src, dst: '10.0.0.1', sport, dport: 80, seq: 1, ack: iss + 1, flags: '.' }));
      p.stack.poll();
      return { tcb: l.accept()!, iss };
    };
    const victim = open('198.51.100.20', 5000);
    const attacker = open('203.0.113.66', 6000);
    expect([victim.tcb.stateName, attacker.tcb.stateName]).toEqual(['ESTABLISHED', 'ESTABLISHED']);
    p.at(5000);
    p.out.length = 0;
    // 1. The spoofed RST: in the victim's window (not at RCV.NXT) or far outside it.
    p.stack.input(
      buildTcp({
        src: '198.51.100.20',
        dst: '10.0.0.1',
        sport: 5000,
        dport: 80,
        seq: guessInWindow ? 1000 : 0x80000000,
        flags: 'R',
      }),
    );
    // 2. The attacker's own in-window RSTs, then it counts the challenge ACKs that reach it.
    for (let i = 0; i < 200; i++) {
      p.stack.input(
        buildTcp({ src: '203.0.113.66', dst: '10.0.0.1', sport: 6000, dport: 80, seq: 100 + i, flags: 'R' }),
      );
      p.stack.poll(); // packets arrive one by one: each tick polls
    }
    expect(victim.tcb.stateName).toBe('ESTABLISHED');
    return p.out.filter((d) => d.dst === '203.0.113.66' && d.tcp?.flags === '.').length;
  }

  it('the number of challenge ACKs an attacker gets does not reveal a hit on another connection', () => {
    expect(world(true)).toBe(world(false));
  });
});

describe('challenge ACK budget (review, issue 14)', () => {
  it('the stack-wide budget (tcp.challengeAckPerSecond) still caps challenge ACKs over many connections', () => {
    const p = probe({ tcp: { timestamps: false, challengeAckPerSecond: 3 } });
    const l = p.stack.tcpListen({ port: 80 });
    for (let i = 0; i < 5; i++) {
      const sport = 7000 + i;
      p.out.length = 0;
      p.stack.input(
        buildTcp({ src: '198.51.100.30', dst: '10.0.0.1', sport, dport: 80, seq: 0, flags: 'S' }),
      );
      p.stack.poll();
      const iss = p.out[0]!.tcp!.seq;
      p.stack.input(
        buildTcp({
          src: '198.51.100.30',
          dst: '10.0.0.1',
          sport,
          dport: 80,
          seq: 1,
          ack: iss + 1,
          flags: '.',
        }),
      );
      p.stack.poll();
      expect(l.accept()!.stateName).toBe('ESTABLISHED');
    }
    p.at(10_000);
    p.out.length = 0;
    for (let i = 0; i < 5; i++) {
      p.stack.input(
        buildTcp({ src: '198.51.100.30', dst: '10.0.0.1', sport: 7000 + i, dport: 80, seq: 900, flags: 'S' }),
      );
      p.stack.poll();
    }
    expect(p.out.filter((d) => d.tcp?.flags === '.').length).toBe(3);
    expect(p.stack.stats().drops.tcpChallengeAckLimited).toBe(2);
  });
});

describe('secrets stay secret (review, issue 14)', () => {
  it('the first ephemeral port reveals nothing of the ISN / SYN-cookie key', () => {
    // The SipHash key is the first 16 random bytes; the ephemeral port cursor used to be taken from
    // key bytes 0-1, so any peer we connected to learned 14 bits of it.
    for (let seed = 1; seed <= 20; seed++) {
      const rng = new Prng(seed);
      const bytes: number[] = [];
      const p = new Stack({
        addresses: ['10.0.0.1'],
        clock: () => 0,
        random: (b) => {
          rng.fill(b);
          if (bytes.length === 0) bytes.push(...b.subarray(0, 2));
        },
        sink: () => undefined,
      });
      const t = p.tcpConnect({ host: '10.0.0.9', port: 80 });
      expect(t.localPort).not.toBe(49152 + ((((bytes[0] as number) << 8) | (bytes[1] as number)) % 16384));
    }
  });
});

describe('UDP destination port 0 (review, issue 14)', () => {
  it('creates no accept-any flow and reaches no endpoint (as TCP refuses port 0)', () => {
    const p = probe();
    const any = p.stack.udpListenAny();
    p.stack.input(
      buildUdp({ src: '10.0.0.9', dst: '198.51.100.7', sport: 5000, dport: 0, payload: new Uint8Array(4) }),
    );
    p.stack.input(
      buildUdp({ src: '10.0.0.9', dst: '10.0.0.1', sport: 5000, dport: 0, payload: new Uint8Array(4) }),
    );
    p.stack.poll();
    expect(any.accept()).toBeUndefined();
    expect(p.stack.stats().udpFlows).toBe(0);
    expect(p.stack.stats().drops.udpBadPort).toBe(2);
    // A zero source port is legal in UDP (RFC 768: "optional"): such a datagram still makes a flow.
    p.stack.input(
      buildUdp({ src: '10.0.0.9', dst: '198.51.100.7', sport: 0, dport: 53, payload: new Uint8Array(4) }),
    );
    p.stack.poll();
    expect(any.accept()?.localPort).toBe(53);
  });
});

describe('fragments nobody wants (review, issue 14)', () => {
  it('fragments to destinations the stack would drop never enter reassembly (cannot evict real datagrams)', () => {
    const p = probe({ reassembly: { maxDatagrams: 4 } });
    const ep = p.stack.udpBind({ port: 53 });
    const payload = Uint8Array.from({ length: 2000 }, (_, i) => i & 255);
    const full = buildUdp({ src: '10.0.0.9', dst: '10.0.0.1', sport: 1000, dport: 53, payload });
    p.stack.input(fragment4(full, 0, 1000, true));
    // Junk fragments to addresses that are not ours (nothing accepts foreign destinations here), to
    // loopback and to multicast: each would have started a datagram of its own.
    for (let i = 0; i < 50; i++) {
      for (const dst of [`198.51.100.${i}`, '127.0.0.1', '224.0.0.9']) {
        const junk = buildUdp({ src: '10.0.0.66', dst, sport: 1, dport: 9, payload: new Uint8Array(100) });
        junk[5] = i; // fragment id
        p.stack.input(fragment4(junk, 0, 16, true));
      }
    }
    p.stack.input(fragment4(full, 1000, full.length - 20 - 1000, false));
    expect(ep.receive()?.data).toEqual(payload);
    expect(p.stack.stats().drops.ipNotForUs).toBe(150);
  });
});

describe('segment size with SACK blocks (review, issue 14)', () => {
  for (const ts of [true, false]) {
    it(`data segments never exceed the MTU, even while SACK blocks are owed (timestamps ${ts ? 'on' : 'off'})`, () => {
      const sent: { size: number; d: ReturnType<typeof decode> }[] = [];
      const p = probe({
        mtu: 1500,
        tcp: { timestamps: ts },
        sink: (pkt) => sent.push({ size: pkt.length, d: decode(pkt.slice()) }),
      });
      const last = () => sent[sent.length - 1]!.d.tcp!;
      const l = p.stack.tcpListen({ port: 80 });
      const base = { src: '10.0.0.9', dst: '10.0.0.1', sport: 4000, dport: 80 } as const;
      p.stack.input(
        buildTcp({ ...base, seq: 0, flags: 'S', mss: 1460, sackOk: true, ts: ts ? [1, 0] : undefined }),
      );
      p.stack.poll();
      const iss = last().seq;
      const tsEcr = (): [number, number] | undefined => (ts ? [2, last().ts![0]] : undefined);
      p.stack.input(buildTcp({ ...base, seq: 1, ack: iss + 1, flags: '.', ts: tsEcr() }));
      p.stack.poll();
      const t = l.accept()!;
      // The peer's data with a hole: we owe SACK blocks from now on.
      p.stack.input(
        buildTcp({ ...base, seq: 2001, ack: iss + 1, flags: '.', ts: tsEcr(), payload: new Uint8Array(500) }),
      );
      p.stack.poll();
      sent.length = 0;
      t.send(new Uint8Array(20_000), 0, 20_000);
      p.stack.poll();
      const data = sent.filter((x) => x.d.tcp!.payload.length > 0);
      expect(data.length).toBeGreaterThan(2);
      expect(Math.max(...data.map((x) => x.size))).toBeLessThanOrEqual(1500);
      // Full-sized segments leave no room for SACK blocks; pure ACKs carry them (RFC 2018).
      expect(data[0]!.d.tcp!.payload.length).toBe(ts ? 1448 : 1460);
    });
  }
});

describe('nothing leaves bigger than the MTU (review, issue 14)', () => {
  it('udpSend/flowSend refuse datagrams over the MTU; echo replies that would not fit are not sent', () => {
    const sizes: number[] = [];
    const p = probe({ mtu: 1400, sink: (pkt) => sizes.push(pkt.length) });
    const ep = p.stack.udpBind({ port: 5000 });
    expect(p.stack.udpSend(ep, new Uint8Array(1400 - 28), '10.0.0.9', 53)).toBe(true);
    expect(p.stack.udpSend(ep, new Uint8Array(1400 - 28 + 1), '10.0.0.9', 53)).toBe(false);
    expect(p.stack.udpSend(ep, new Uint8Array(1400 - 48 + 10), 'fd00::9', 53)).toBe(false);
    // A reassembled 1420-byte echo request: its reply would not fit the link.
    const any = p.stack.udpListenAny();
    p.stack.input(
      buildUdp({ src: '10.0.0.9', dst: '198.51.100.7', sport: 7, dport: 7, payload: new Uint8Array(1) }),
    );
    p.stack.poll();
    const flow = any.accept()!;
    expect(p.stack.flowSend(flow, new Uint8Array(1400 - 28 + 30))).toBe(false);
    const big = buildIcmp({
      src: '10.0.0.9',
      dst: '10.0.0.1',
      type: 8,
      code: 0,
      word1: 1,
      word2: 1,
      body: new Uint8Array(1400),
    });
    p.stack.input(fragment4(big, 0, 800, true));
    p.stack.input(fragment4(big, 800, big.length - 20 - 800, false));
    p.stack.poll();
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1400);
  });
});

describe('IPv6 next headers we do not speak (review, issue 14)', () => {
  it('No Next Header (59) is dropped silently; an unknown one draws Parameter Problem code 1 pointing at it', () => {
    const p = probe();
    const v6 = (next: number, ext = false): Uint8Array => {
      const body = ext ? [next, 0, 1, 4, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9] : [9, 9, 9, 9, 9, 9, 9, 9];
      const pkt = new Uint8Array(40 + body.length);
      pkt[0] = 0x60;
      pkt[5] = body.length;
      pkt[6] = ext ? 60 : next; // 60: destination options
      pkt[7] = 64;
      pkt.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9], 8);
      pkt.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 24);
      pkt.set(body, 40);
      return pkt;
    };
    p.stack.input(v6(59));
    p.stack.input(v6(59, true));
    expect(p.out).toEqual([]);
    p.stack.input(v6(253));
    p.stack.input(v6(253, true));
    expect(p.out.map((d) => [d.icmp?.type, d.icmp?.code])).toEqual([
      [4, 1],
      [4, 1],
    ]);
    // The pointer (32 bits after type/code/checksum) names the Next Header field: 6, then 40.
    const ptr = (d: (typeof p.out)[number]) => d.icmp!.id * 65536 + d.icmp!.seq;
    expect(p.out.map(ptr)).toEqual([6, 40]);
  });
});

describe('UDP source ports are unpredictable (review, issue 14; RFC 6056, RFC 5452)', () => {
  it('consecutive ephemeral binds do not count up (a DNS query port an off-path attacker can guess)', () => {
    const p = probe();
    const ports = Array.from({ length: 50 }, () => p.stack.udpBind({}).port);
    const near = ports.slice(1).filter((x, i) => Math.abs(x - ports[i]!) <= 8).length;
    expect(near).toBeLessThan(3);
    expect(new Set(ports).size).toBe(50);
    expect(ports.every((x) => x >= 49152 && x <= 65535)).toBe(true);
  });
});

describe('the ICMP error budget is no side channel (review, issue 14; SAD DNS, CVE-2020-25705)', () => {
  // A stack-wide budget of port-unreachable errors lets an off-path attacker find an open UDP port
  // (a DNS query's): it spoofs datagrams from the resolver to a batch of ports, each closed one
  // spends budget on an error to the resolver, then it probes closed ports from its own address and
  // counts the errors left for it: one more when the batch held the open port.
  function world(batchHoldsOpenPort: boolean): number {
    const p = probe({ icmpErrorsPerSecond: 20 });
    const query = p.stack.udpBind({ port: 50000 });
    expect(query.port).toBe(50000);
    p.at(3000);
    p.out.length = 0;
    for (let i = 0; i < 10; i++) {
      const dport = batchHoldsOpenPort && i === 3 ? 50000 : 50001 + i;
      p.stack.input(
        buildUdp({ src: '198.51.100.53', dst: '10.0.0.1', sport: 53, dport, payload: new Uint8Array(8) }),
      );
    }
    for (let i = 0; i < 20; i++) {
      p.stack.input(
        buildUdp({
          src: '203.0.113.66',
          dst: '10.0.0.1',
          sport: 999,
          dport: 1000 + i,
          payload: new Uint8Array(8),
        }),
      );
    }
    return p.out.filter((d) => d.dst === '203.0.113.66' && d.icmp?.type === 3).length;
  }

  it('the errors an attacker gets back do not depend on what was sent to anyone else', () => {
    expect(world(true)).toBe(world(false));
  });

  it('errors stay bounded per destination and in total under a flood from many sources', () => {
    const p = probe({ icmpErrorsPerSecond: 20 });
    for (let i = 0; i < 5000; i++) {
      const src = `198.51.${(i >> 8) & 255}.${1 + (i & 127)}`;
      p.stack.input(buildUdp({ src, dst: '10.0.0.1', sport: 1, dport: 9, payload: new Uint8Array(1) }));
    }
    const errors = p.out.filter((d) => d.icmp?.type === 3);
    expect(errors.length).toBeGreaterThan(0);
    const perDst = new Map<string, number>();
    for (const d of errors) perDst.set(d.dst, (perDst.get(d.dst) ?? 0) + 1);
    expect(Math.max(...perDst.values())).toBeLessThanOrEqual(20);
    expect(errors.length).toBeLessThanOrEqual(20 * 256);
  });
});

describe('SYN-cookie timestamps hide the clock (review, issue 14; RFC 7323 7.1)', () => {
  it('cookie SYN-ACKs carry a per-connection TSval offset, and the connection keeps using it', () => {
    const p = probe({ tcp: { synCookies: 'always' } });
    const l = p.stack.tcpListen({ port: 80 });
    p.at(123_456);
    const base = {
      dst: '10.0.0.1',
      dport: 80,
      seq: 5000,
      flags: 'S',
      mss: 1460,
      ts: [77, 0] as [number, number],
    };
    p.stack.input(buildTcp({ ...base, src: '10.0.0.9', sport: 4000 }));
    p.stack.input(buildTcp({ ...base, src: '10.0.0.8', sport: 4001 }));
    const [a, b] = p.out.map((d) => d.tcp!);
    // The raw stack clock (ms) would read 123456 here (low 5 bits carry the cookie's options).
    expect(a!.ts![0] >>> 5).not.toBe(123_456 >>> 5);
    expect(a!.ts![0] >>> 5).not.toBe(b!.ts![0] >>> 5);
    // The connection built from the cookie continues from the TSval it advertised.
    p.stack.input(
      buildTcp({
        src: '10.0.0.9',
        dst: '10.0.0.1',
        sport: 4000,
        dport: 80,
        seq: 5001,
        ack: a!.seq + 1,
        flags: '.',
        ts: [78, a!.ts![0]],
      }),
    );
    p.stack.poll();
    const t = l.accept()!;
    expect(t.stateName).toBe('ESTABLISHED');
    // Never behind the SYN-ACK's TSval, even at once (the peer's PAWS would drop the segment).
    p.out.length = 0;
    t.send(new Uint8Array(10), 0, 10);
    p.stack.poll();
    const first = p.out[0]!.tcp!.ts![0];
    expect((first - a!.ts![0]) >>> 0).toBeLessThan(0x80000000);
    p.out.length = 0;
    p.at(123_556);
    p.stack.input(
      buildTcp({
        src: '10.0.0.9',
        dst: '10.0.0.1',
        sport: 4000,
        dport: 80,
        seq: 5001,
        ack: a!.seq + 11,
        flags: '.',
        ts: [79, first],
      }),
    );
    t.send(new Uint8Array(10), 0, 10);
    p.stack.poll();
    const next = p.out[0]!.tcp!.ts![0];
    expect((next - a!.ts![0]) >>> 0).toBeGreaterThanOrEqual(90);
    expect((next - a!.ts![0]) >>> 0).toBeLessThanOrEqual(140);
  });
});
