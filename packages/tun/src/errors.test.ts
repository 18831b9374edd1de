import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { errnoError, errnoName, fromNativeError, HINT_ENOENT, HINT_EPERM, TunError } from './errors.js';

describe('TunError', () => {
  it('names the operation and errno and carries a hint for EPERM', () => {
    const e = errnoError('ioctl(TUNSETIFF)', 1, undefined, 'tun0');
    expect(e).toBeInstanceOf(TunError);
    expect(e).toMatchObject({
      code: 'CORRIDOR_ERR_TUN_EPERM',
      errno: 1,
      syscall: 'ioctl(TUNSETIFF)',
      hint: HINT_EPERM,
    });
    expect(e.message).toContain('ioctl(TUNSETIFF) on tun0 failed: EPERM');
    expect(e.message).toContain('setcap cap_net_admin+ep');
  });

  it('maps a missing /dev/net/tun to the module hint', () => {
    const e = fromNativeError({ errno: 2, code: 'ENOENT', syscall: 'open(/dev/net/tun)' });
    expect(e).toMatchObject({ code: 'CORRIDOR_ERR_TUN_ENOENT', hint: HINT_ENOENT });
  });

  it('treats EACCES on /dev/net/tun as the EPERM case', () => {
    const e = fromNativeError({ errno: 13, code: 'EACCES', syscall: 'open(/dev/net/tun)' });
    expect(e.code).toBe('CORRIDOR_ERR_TUN_EPERM');
    expect(e.hint).toContain(HINT_EPERM);
  });

  it('explains EBUSY as a name in use', () => {
    const e = fromNativeError({ errno: 16, code: 'EBUSY', syscall: 'ioctl(TUNSETIFF)' }, 'corridor0');
    expect(e.code).toBe('CORRIDOR_ERR_TUN_EBUSY');
    expect(e.hint).toContain('"corridor0" is in use');
  });

  it('wraps unknown errors without losing them', () => {
    const cause = new Error('boom');
    const e = fromNativeError(cause);
    expect(e.code).toBe('CORRIDOR_ERR_TUN_UNKNOWN');
    expect(e.cause).toBe(cause);
    expect(fromNativeError(e)).toBe(e);
  });
});

describe('errnoName', () => {
  it('names every errno it knows as the kernel does (os.constants.errno)', () => {
    // Linux values Node does not list (include/uapi/asm-generic/errno.h).
    const kernel: Record<string, number> = { ...constants.errno, ENOANO: 55, EBADFD: 77 };
    for (let n = 1; n < 200; n++) {
      const name = errnoName(n);
      if (name === `E${n}`) continue; // not in our table: numeric fallback
      expect(kernel[name], `errno ${n} named ${name}`).toBe(n);
    }
    expect(errnoName(55)).toBe('ENOANO');
    expect(errnoName(105)).toBe('ENOBUFS');
    expect(errnoName(-22)).toBe('EINVAL');
    expect(errnoName(4095)).toBe('E4095');
  });
});
