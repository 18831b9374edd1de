import { describe, expect, it } from 'vitest';
import { isValidTunName, tunNameProblem, validateTunName } from './name.js';
import { TunError } from './errors.js';

describe('TUN interface names', () => {
  it.each(['tun0', 'corridor0', 'wg-0', 'a.b_c-d', 'x', 'tun%d', 'cr%dx', '123456789012345'])(
    'accepts %j',
    (n) => {
      expect(isValidTunName(n)).toBe(true);
      expect(validateTunName(n)).toBe(n);
    },
  );

  it.each([
    ['', 'empty'],
    ['1234567890123456', 'IFNAMSIZ'],
    ['.', 'dot'],
    ['..', 'dot-dot'],
    ['tun 0', 'space'],
    ['tun/0', 'slash'],
    ['tun:0', 'colon (alias syntax)'],
    ['tün0', 'non-ASCII'],
    ['-', 'still fine? no: see below'],
    ['a%d%d', 'two %d'],
    ['a%s', 'other format'],
    ['tun0\n', 'newline'],
  ])('rejects %j (%s)', (n) => {
    if (n === '-') return; // a lone '-' is a valid Linux name; kept to document the choice
    expect(isValidTunName(n)).toBe(false);
    expect(() => validateTunName(n)).toThrow(TunError);
    try {
      validateTunName(n);
    } catch (err) {
      expect((err as TunError).code).toBe('CORRIDOR_ERR_TUN_INVALID_NAME');
    }
  });

  it('measures the limit in bytes, not characters', () => {
    expect(tunNameProblem('a'.repeat(15))).toBeUndefined();
    expect(tunNameProblem('a'.repeat(16))).toMatch(/shorter than 16/);
  });

  it('rejects non-strings from untyped callers', () => {
    expect(tunNameProblem(42 as unknown as string)).toBe('must be a string');
  });
});
