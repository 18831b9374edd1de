import { describe, expect, it } from 'vitest';
import { normalizeClientIp, rateLimitKey } from '../../src/lib/client-ip.js';

describe('rateLimitKey', () => {
  it('keys IPv4 by address and IPv6 by /64', () => {
    expect(rateLimitKey('198.51.100.7')).toBe('198.51.100.7');
    expect(rateLimitKey('::ffff:198.51.100.7')).toBe('198.51.100.7');
    expect(rateLimitKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(rateLimitKey('2001:db8:1:2::9')).toBe('2001:db8:1:2::/64');
    expect(rateLimitKey('2001:0DB8:0001:0002:ffff::1')).toBe('2001:db8:1:2::/64');
    expect(rateLimitKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(rateLimitKey('::1')).toBe('0:0:0:0::/64');
    expect(rateLimitKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(rateLimitKey('64:ff9b::198.51.100.7')).toBe('64:ff9b:0:0::/64');
    expect(rateLimitKey('2001:db8:1:2:3:4:198.51.100.7')).toBe('2001:db8:1:2::/64');
  });
});

describe('client addresses from X-Forwarded-For', () => {
  it('drops ports so one client is one rate-limit key', () => {
    expect(rateLimitKey('198.51.100.7:4711')).toBe('198.51.100.7');
    expect(rateLimitKey('198.51.100.7:1')).toBe(rateLimitKey('198.51.100.7:65535'));
    expect(rateLimitKey('[2001:db8:1:2::9]:443')).toBe('2001:db8:1:2::/64');
    expect(rateLimitKey('[2001:db8:1:2::9]')).toBe('2001:db8:1:2::/64');
    expect(normalizeClientIp(' 198.51.100.7:80 ')).toBe('198.51.100.7');
    expect(normalizeClientIp('[::ffff:198.51.100.7]:80')).toBe('198.51.100.7');
  });

  it('keeps what is not an address bounded and recognisable', () => {
    expect(normalizeClientIp('unknown')).toBe('invalid');
    expect(normalizeClientIp('x'.repeat(500))).toBe('invalid');
    expect(rateLimitKey('garbage:1')).toBe('invalid');
  });
});
