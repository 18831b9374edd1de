// Bad configuration the node must refuse or survive: client subnets that are loopback, multicast,
// link-local, unspecified or reserved ranges (the kernel would drop or mis-route such traffic), IPv6
// written with an embedded IPv4 tail (read wrongly before); a secret after a mistyped flag is not
// echoed into the error (stderr ends up in the journal).
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

const BASE = { CORRIDOR_CONTROLLER_URL: 'https://controller.test:8443', CORRIDOR_NODE_ID: 'fra-1' };

describe('client subnets', () => {
  it.each([
    '127.0.0.0/24',
    '0.0.0.0/24',
    '169.254.0.0/16',
    '224.0.0.0/24',
    '240.0.0.0/24',
    '255.255.255.0/24',
  ])('refuses IPv4 client subnet %s, naming it', (subnet) => {
    const r = loadConfig({ ...BASE, CORRIDOR_CLIENT_SUBNET: subnet });
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.problems.join('\n')).toMatch(
        new RegExp(`CORRIDOR_CLIENT_SUBNET: .*${subnet.replace(/\./g, '\\.')}`),
      );
  });

  it.each(['fe80::/64', 'ff02::/64', '::/64', '::ffff:0:0/96', '2001:db8::10.8.0.0/120'])(
    'refuses IPv6 client subnet %s, naming it',
    (subnet) => {
      const r = loadConfig({ ...BASE, CORRIDOR_CLIENT_SUBNET6: subnet });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problems.join('\n')).toContain(`CORRIDOR_CLIENT_SUBNET6: `);
    },
  );

  it('accepts private and global unicast subnets', () => {
    const r = loadConfig({
      ...BASE,
      CORRIDOR_CLIENT_SUBNET: '100.64.0.0/16',
      CORRIDOR_CLIENT_SUBNET6: '2001:db8:5::/64',
    });
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(r.config.clientSubnet.gateway).toBe('100.64.0.1');
    expect(r.config.clientSubnet6?.gateway).toBe('2001:db8:5::1');
  });
});

describe('config errors and secrets', () => {
  it('does not echo a secret that follows a mistyped flag', () => {
    const token = 'Zm9vYmFyYmF6cXV4cXV1eHNlY3JldHRva2Vu';
    const r = loadConfig(BASE, ['--enrolment-token', token], undefined, { strict: true });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const text = r.problems.join('\n');
    expect(text).toContain('--enrolment-token: unknown option');
    expect(text).toMatch(/unexpected argument/);
    expect(text).not.toContain(token);
    // Short words are still shown as typed (a misplaced command name, say).
    const r2 = loadConfig(BASE, ['stauts'], undefined, { strict: true });
    expect(r2.ok).toBe(false);
    if (!r2.ok) expect(r2.problems.join('\n')).toContain("'stauts': unexpected argument");
  });
});
