import { describe, expect, it } from 'vitest';
import { AddressPool } from '../../src/peers/address-pool.js';

/** The int32 a packet-path reader gets from four address bytes (`|`, no `>>> 0`). */
const read32 = (a: number, b: number, c: number, d: number) => (a << 24) | (b << 16) | (c << 8) | d;

describe('AddressPool', () => {
  it('gives a device its index back and starts after the gateway', () => {
    const pool = new AddressPool({ network: '10.8.0.0', prefix: 24, gateway: '10.8.0.1' }, null);
    const a = pool.lease('dev-a');
    expect(a).toBe(2);
    expect(pool.lease('dev-b')).toBe(3);
    expect(pool.lease('dev-a')).toBe(a);
    expect(pool.ipv4Text(a as number)).toBe('10.8.0.2');
  });

  it('packet-path keys are small integers even above 2^31 (192.168/16, fd.. low words)', () => {
    const pool = new AddressPool(
      { network: '192.168.100.0', prefix: 24, gateway: '192.168.100.1' },
      { network: 'fd12:3456:789a:1::', prefix: 64, gateway: 'fd12:3456:789a:1::1' },
    );
    const i = pool.lease('dev') as number;
    const key = pool.key4(i);
    expect(key).toBe(read32(192, 168, 100, i));
    expect(key).toBeLessThan(0); // int32, as read from the packet — not a heap number
    expect(pool.indexOf4(read32(192, 168, 100, i))).toBe(i);
    expect(pool.indexOf4(read32(192, 168, 100, 255))).toBe(-1); // broadcast
    expect(pool.indexOf4(read32(192, 168, 101, 2))).toBe(-1);
    expect(pool.indexOf4(read32(10, 0, 0, 2))).toBe(-1);
    const v6 = pool.ipv6Bytes(i) as Buffer;
    expect(pool.key6(i)).toBe(v6.readInt32BE(12));
  });
});
