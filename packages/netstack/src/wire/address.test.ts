import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, IpAddr, normalizeIp, parseIp } from './address.js';

describe('IP address text', () => {
  it('parses and formats IPv4', () => {
    expect(formatIp(parseIp('10.8.0.12')!)).toBe('10.8.0.12');
    expect(parseIp('10.8.0.12')!.family).toBe(4);
    expect(parseIp('255.255.255.255')!.w3).toBe(0xffffffff);
  });

  it('refuses malformed text without throwing', () => {
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4',
      'a.b.c.d',
      '1::2::3',
      ':::',
      '12345::',
      'fe80::1%eth0',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '::ffff:1.2.3',
      'x'.repeat(100),
    ]) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
    expect(parseIp(undefined as unknown as string)).toBeUndefined();
  });

  it('formats IPv6 canonically (RFC 5952)', () => {
    expect(normalizeIp('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(normalizeIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(normalizeIp('::')).toBe('::');
    expect(normalizeIp('::1')).toBe('::1');
    expect(normalizeIp('fd00::')).toBe('fd00::');
    expect(normalizeIp('2001:db8:1:1:1:1:1:0')).toBe('2001:db8:1:1:1:1:1:0');
    expect(normalizeIp('::ffff:192.0.2.1')).toBe('::ffff:c000:201');
  });

  it('round-trips every IPv4 and IPv6 address (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), (t) => {
        const a = parseIp(t)!;
        expect(formatIp(a)).toBe(t);
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), (groups) => {
        const full = groups.map((g) => g.toString(16)).join(':');
        const a = parseIp(full)!;
        const again = parseIp(formatIp(a))!;
        expect(again.equals(a)).toBe(true);
        // Canonical text matches the WHATWG URL serializer, an independent RFC 5952 implementation.
        expect(`[${formatIp(a)}]`).toBe(new URL(`http://[${full}]/`).hostname);
      }),
    );
  });

  it('reads and writes address bytes', () => {
    const a = parseIp('2001:db8::42')!;
    const b = new Uint8Array(16);
    a.write(b, 0);
    expect(IpAddr.read(6, b, 0).equals(a)).toBe(true);
    const v4 = parseIp('198.51.100.7')!;
    const c = new Uint8Array(4);
    v4.write(c, 0);
    expect([...c]).toEqual([198, 51, 100, 7]);
    expect(v4.equals(parseIp('::ffff:198.51.100.7')!)).toBe(false); // family matters
  });
});
