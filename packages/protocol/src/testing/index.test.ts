import { describe, expect, it } from 'vitest';
import { parseIPv6 } from '../handshake/ip.js';
import { establishTunnelPair, exampleTunnelParams, ipv4Packet, ipv6Packet } from './index.js';

describe('protocol testing helpers', () => {
  it('establishes a pair that carries packets both ways with the given parameters', () => {
    const params = exampleTunnelParams({ mtu: 1380 });
    const { client, node, peer, source } = establishTunnelPair({ params });
    expect(client.params).toEqual(params);

    const out = Buffer.alloc(2048);
    // The node only passes inner packets from the client's assigned address (anti-spoofing).
    const packet = ipv4Packet(params.clientIPv4, '198.51.100.80', Buffer.from('client->node'));
    const up = client.encapsulate(packet, out);
    expect(up.type).toBe('writeToNetwork');
    if (up.type !== 'writeToNetwork') return;
    const atNode = node.decapsulate(Buffer.from(up.data), source, Buffer.alloc(2048));
    expect(atNode.type).toBe('writeToTun');
    if (atNode.type === 'writeToTun') expect(atNode.data.equals(packet)).toBe(true);

    const down = node.encapsulate(peer, Buffer.from('node->client'), out);
    expect(down.type).toBe('writeToNetwork');
    if (down.type !== 'writeToNetwork') return;
    const atClient = client.decapsulate(Buffer.from(down.data), Buffer.alloc(2048));
    expect(atClient.type).toBe('writeToTun');
    if (atClient.type === 'writeToTun') expect(atClient.data.toString()).toBe('node->client');
  });

  it('builds minimal IPv4 and IPv6 packets with the given addresses', () => {
    const v4 = ipv4Packet('10.8.0.12', '198.51.100.80', Buffer.from('abc'));
    expect(v4.length).toBe(23);
    expect(v4[0]).toBe(0x45);
    expect(v4.readUInt16BE(2)).toBe(23);
    expect([...v4.subarray(12, 20)]).toEqual([10, 8, 0, 12, 198, 51, 100, 80]);
    // A header whose checksum is right sums to 0xffff (RFC 1071).
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += v4.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    expect(sum).toBe(0xffff);
    const v6 = ipv6Packet('fd00::c', '2001:db8::80', Buffer.from('abc'));
    expect(v6.length).toBe(43);
    expect(v6[0]! >> 4).toBe(6);
    expect(v6.readUInt16BE(4)).toBe(3);
    expect(v6.subarray(8, 24).equals(Buffer.from(parseIPv6('fd00::c')!))).toBe(true);
    expect(() => ipv4Packet('10.8.0.300', '1.2.3.4')).toThrow(RangeError);
  });

  it('example parameters accept overrides without sharing state', () => {
    const a = exampleTunnelParams({ clientIPv4: '10.8.0.50' });
    const b = exampleTunnelParams();
    expect(a.clientIPv4).toBe('10.8.0.50');
    expect(b.clientIPv4).toBe('10.8.0.12');
    expect(a.dnsServers).not.toBe(b.dnsServers);
  });
});
