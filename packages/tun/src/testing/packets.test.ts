import { describe, expect, it } from 'vitest';
import { buildIpv4Udp, icmpEchoReply, internetChecksum, parseIpv4, parseIpv4Udp } from './packets.js';

describe('packet helpers', () => {
  it('builds IPv4/UDP with valid checksums and parses it back', () => {
    const p = buildIpv4Udp({
      src: '198.18.0.1',
      dst: '198.18.0.2',
      srcPort: 1234,
      dstPort: 53,
      payload: Buffer.from('hi!'),
    });
    expect(p.length).toBe(31);
    expect(internetChecksum(p, 0, 20)).toBe(0); // header checksum verifies to zero
    const d = parseIpv4Udp(p);
    expect(d).toMatchObject({
      srcPort: 1234,
      dstPort: 53,
      ip: { src: '198.18.0.1', dst: '198.18.0.2', protocol: 17 },
    });
    expect(Buffer.from(d?.payload ?? []).toString()).toBe('hi!');
    // UDP checksum over pseudo-header + datagram verifies to zero.
    const pseudo = new Uint8Array(12 + 11);
    pseudo.set(p.subarray(12, 20), 0);
    pseudo[9] = 17;
    pseudo[11] = 11;
    pseudo.set(p.subarray(20), 12);
    expect(internetChecksum(pseudo)).toBe(0);
  });

  it('turns an echo request into a reply', () => {
    const req = new Uint8Array(28 + 8);
    req.set([0x45, 0, 0, 36, 0, 1, 0x40, 0, 64, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2]);
    req[20] = 8;
    req.set([0xab, 0xcd, 0, 1, 1, 2, 3, 4], 24);
    const ipSum = internetChecksum(req, 0, 20);
    req[10] = ipSum >> 8;
    req[11] = ipSum & 0xff;
    const icmpSum = internetChecksum(req, 20);
    req[22] = icmpSum >> 8;
    req[23] = icmpSum & 0xff;
    const rep = icmpEchoReply(req);
    expect(rep).toBeDefined();
    expect(parseIpv4(rep as Uint8Array)).toMatchObject({ src: '198.18.0.2', dst: '198.18.0.1', protocol: 1 });
    expect(rep?.[20]).toBe(0);
    expect(internetChecksum(rep as Uint8Array, 0, 20)).toBe(0);
    expect(internetChecksum(rep as Uint8Array, 20)).toBe(0);
    expect(icmpEchoReply(rep as Uint8Array)).toBeUndefined(); // a reply is not a request
  });

  it('rejects truncated or non-IPv4 input', () => {
    expect(parseIpv4(new Uint8Array(10))).toBeUndefined();
    expect(parseIpv4(Uint8Array.from([0x60, ...new Array(39).fill(0)]))).toBeUndefined();
    const p = buildIpv4Udp({
      src: '198.18.0.1',
      dst: '198.18.0.2',
      srcPort: 1,
      dstPort: 2,
      payload: new Uint8Array(4),
    });
    expect(parseIpv4Udp(p.subarray(0, 30))).toBeUndefined();
  });
});
