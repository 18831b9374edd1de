import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

describe('node agent config', () => {
  it('applies safe defaults around the required controller URL', () => {
    const r = loadConfig({ CORRIDOR_CONTROLLER_URL: 'https://controller.test:8443' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.tunAddress).toEqual({ address: '10.8.0.1', prefix: 24 });
    expect(r.config.tunName).toBe('corridor0');
    expect(r.config.udpPort).toBe(51820);
    expect(r.config.mtu).toBe(1420);
  });

  it('names every bad variable at once', () => {
    const r = loadConfig({
      CORRIDOR_CONTROLLER_URL: 'http://plain.test',
      CORRIDOR_TUN_NAME: 'this-name-is-way-too-long',
      CORRIDOR_TUN_ADDRESS: '10.8.0.300/24',
      CORRIDOR_UDP_PORT: '70000',
      CORRIDOR_MTU: 'big',
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const names = r.problems.map((p) => p.split(':')[0]);
    expect(names.sort()).toEqual(
      [
        'CORRIDOR_CONTROLLER_URL',
        'CORRIDOR_MTU',
        'CORRIDOR_TUN_ADDRESS',
        'CORRIDOR_TUN_NAME',
        'CORRIDOR_UDP_PORT',
      ].sort(),
    );
    expect(r.problems.find((p) => p.startsWith('CORRIDOR_CONTROLLER_URL'))).toContain('https');
  });

  it('requires the controller URL', () => {
    const r = loadConfig({});
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems[0]).toMatch(/^CORRIDOR_CONTROLLER_URL: required/);
  });
});
