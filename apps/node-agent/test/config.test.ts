import { describe, expect, it } from 'vitest';
import { envName, flagName, loadConfig, ulaFor } from '../src/config.js';

const BASE = { CORRIDOR_CONTROLLER_URL: 'https://controller.test:8443', CORRIDOR_NODE_ID: 'fra-1' };

describe('node agent config', () => {
  it('applies the documented defaults', () => {
    const r = loadConfig(BASE);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(r.config).toMatchObject({
      tunName: 'corridor0',
      clientSubnet: { network: '10.8.0.0', prefix: 24, gateway: '10.8.0.1' },
      udpListen: { host: '0.0.0.0', port: 51820 },
      tcpListen: { host: '0.0.0.0', port: 443 },
      isolation: true,
      nat: true,
      onlineAuth: 'off',
      mtu: 1420,
      keepaliveSeconds: 25,
      metricsListen: { host: '127.0.0.1', port: 9817 },
      dataDir: '/var/lib/corridor-node',
      statusSocket: '/var/lib/corridor-node/status.sock',
    });
    expect(r.config.clientSubnet6).toEqual(ulaFor('fra-1'));
    expect(r.config.clientSubnet6?.network).toMatch(/^fd[0-9a-f]{2}:/);
    expect(r.config.clientSubnet6?.prefix).toBe(64);
  });

  it('gives every option a flag and an env form, flags over env over file', () => {
    expect(flagName('clientSubnet6')).toBe('--client-subnet6');
    expect(envName('clientSubnet6')).toBe('CORRIDOR_CLIENT_SUBNET6');
    expect(flagName('onlineAuth')).toBe('--online-auth');
    const file = JSON.stringify({
      tunName: 'fromfile0',
      mtu: 1400,
      isolation: false,
      dnsServers: ['10.8.0.1'],
    });
    const r = loadConfig(
      { ...BASE, CORRIDOR_CONFIG: '/etc/node.json', CORRIDOR_MTU: '1380', CORRIDOR_ONLINE_AUTH: 'check' },
      ['--mtu', '1300', '--isolation=on', '--udp-listen', '[::]:5000', '--tcp-listen', 'off'],
      () => file,
    );
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(r.config).toMatchObject({
      tunName: 'fromfile0',
      mtu: 1300,
      isolation: true,
      onlineAuth: 'check',
      dnsServers: ['10.8.0.1'],
      udpListen: { host: '::', port: 5000 },
      tcpListen: null,
    });
  });

  it('names every bad value at once, each in the form the operator used', () => {
    const r = loadConfig(
      {
        CORRIDOR_CONTROLLER_URL: 'http://plain.test',
        CORRIDOR_TUN_NAME: 'this-name-is-way-too-long',
        CORRIDOR_CLIENT_SUBNET: '10.8.0.300/24',
        CORRIDOR_CONFIG: '/etc/node.json',
      },
      [
        '--udp-listen',
        '0.0.0.0:70000',
        '--mtu',
        'big',
        '--online-auth',
        'maybe',
        '--controller-fingerprint',
        'zz',
        '--client-subnet6',
        'fd00::/48',
      ],
      () => JSON.stringify({ nodeId: 'Bad_Id', bogus: 1, isolation: 'sometimes' }),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const text = r.problems.join('\n');
    for (const name of [
      'CORRIDOR_CONTROLLER_URL',
      'CORRIDOR_TUN_NAME',
      'CORRIDOR_CLIENT_SUBNET',
      '--udp-listen',
      '--mtu',
      '--online-auth',
      '--controller-fingerprint',
      '--client-subnet6',
      '/etc/node.json: nodeId',
      '/etc/node.json: unknown key "bogus"',
      '/etc/node.json: isolation',
    ]) {
      expect(text).toContain(name);
    }
    expect(r.problems).toHaveLength(11);
    expect(r.problems.find((p) => p.startsWith('CORRIDOR_CONTROLLER_URL'))).toContain('https');
  });

  it('names missing required options and unknown flags in the same pass as bad values', () => {
    const r = loadConfig({}, ['--mtu', '99', '--udp-listne', 'x:1', 'stray'], () => '{}', {
      required: ['controllerUrl', 'nodeId', 'enrollmentToken'],
      strict: true,
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual([
      '--udp-listne: unknown option (see --help)',
      "'x:1': unexpected argument (see --help)",
      "'stray': unexpected argument (see --help)",
      "--mtu: expected an integer 1280..9000, got '99'",
      expect.stringMatching(/^--controller-url \/ CORRIDOR_CONTROLLER_URL: required/),
      expect.stringMatching(/^--node-id \/ CORRIDOR_NODE_ID: required/),
      expect.stringMatching(/^--enrollment-token \/ CORRIDOR_ENROLLMENT_TOKEN: required to enroll/),
    ]);
    // A required option given with a bad value is named once, for its value.
    const bad = loadConfig({ CORRIDOR_CONTROLLER_URL: 'nope' }, [], undefined, {
      required: ['controllerUrl'],
    });
    expect(bad.ok ? [] : bad.problems).toEqual(["CORRIDOR_CONTROLLER_URL: not a valid URL: 'nope'"]);
  });

  it('reports an unreadable or malformed config file', () => {
    const missing = loadConfig(BASE, ['--config', '/nope.json'], () => {
      throw Object.assign(new Error('x'), { code: 'ENOENT' });
    });
    expect(missing.ok ? [] : missing.problems).toEqual(['--config: cannot read /nope.json (ENOENT)']);
    const bad = loadConfig(BASE, ['--config', '/bad.json'], () => '[1');
    expect(bad.ok ? [] : bad.problems[0]).toMatch(/^\/bad.json: not a JSON object/);
  });
});
