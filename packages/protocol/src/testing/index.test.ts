import { describe, expect, it } from 'vitest';
import { establishTunnelPair, exampleTunnelParams } from './index.js';

describe('protocol testing helpers', () => {
  it('establishes a pair that carries packets both ways with the given parameters', () => {
    const params = exampleTunnelParams({ mtu: 1380 });
    const { client, node, peer, source } = establishTunnelPair({ params });
    expect(client.params).toEqual(params);

    const out = Buffer.alloc(2048);
    const up = client.encapsulate(Buffer.from('client->node'), out);
    expect(up.type).toBe('writeToNetwork');
    if (up.type !== 'writeToNetwork') return;
    const atNode = node.decapsulate(Buffer.from(up.data), source, Buffer.alloc(2048));
    expect(atNode.type).toBe('writeToTun');
    if (atNode.type === 'writeToTun') expect(atNode.data.toString()).toBe('client->node');

    const down = node.encapsulate(peer, Buffer.from('node->client'), out);
    expect(down.type).toBe('writeToNetwork');
    if (down.type !== 'writeToNetwork') return;
    const atClient = client.decapsulate(Buffer.from(down.data), Buffer.alloc(2048));
    expect(atClient.type).toBe('writeToTun');
    if (atClient.type === 'writeToTun') expect(atClient.data.toString()).toBe('node->client');
  });

  it('example parameters accept overrides without sharing state', () => {
    const a = exampleTunnelParams({ clientIPv4: '10.8.0.50' });
    const b = exampleTunnelParams();
    expect(a.clientIPv4).toBe('10.8.0.50');
    expect(b.clientIPv4).toBe('10.8.0.12');
    expect(a.dnsServers).not.toBe(b.dnsServers);
  });
});
