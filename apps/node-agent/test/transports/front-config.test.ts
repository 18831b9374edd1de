import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { parseHostPort } from '../../src/transports/front-config.js';

const BASE = { CORRIDOR_CONTROLLER_URL: 'https://controller.test:8443', CORRIDOR_NODE_ID: 'fra-1' };

describe('HTTPS front options', () => {
  it('is off by default; padding off', () => {
    const r = loadConfig(BASE);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(r.config.front).toBeNull();
    expect(r.config.padding).toBe('off');
  });

  it('a certificate turns it on at 0.0.0.0:443 with /ws, which then needs the tcp transport elsewhere', () => {
    const files = ['--tls-cert-file', '/etc/c.pem', '--tls-key-file', '/etc/k.pem'];
    const clash = loadConfig(BASE, files);
    expect(clash.ok).toBe(false);
    if (!clash.ok)
      expect(clash.problems.join('\n')).toMatch(/--tls-listen .* --tcp-listen .*both want port 443/);
    const r = loadConfig(BASE, [...files, '--tcp-listen', '0.0.0.0:8443', '--padding', 'buckets']);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(r.config.front).toEqual({
      host: '0.0.0.0',
      port: 443,
      certFile: '/etc/c.pem',
      keyFile: '/etc/k.pem',
      wssPath: '/ws',
      fallback: null,
    });
    expect(r.config.padding).toBe('buckets');
    const f = loadConfig({ ...BASE, CORRIDOR_FALLBACK: 'www.example.org:8080', CORRIDOR_WSS_PATH: 'off' }, [
      ...files,
      '--tls-listen',
      '198.18.0.1:4443',
    ]);
    if (!f.ok) throw new Error(f.problems.join('\n'));
    expect(f.config.front).toMatchObject({
      host: '198.18.0.1',
      port: 4443,
      wssPath: null,
      fallback: { host: 'www.example.org', port: 8080 },
    });
  });

  it('names every bad front option at once', () => {
    const r = loadConfig(BASE, [
      '--tls-listen',
      'nowhere',
      '--tls-cert-file',
      '/c.pem',
      '--wss-path',
      'ws',
      '--fallback',
      'a b:1',
      '--padding',
      'lots',
    ]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const all = r.problems.join('\n');
    expect(all).toContain('--tls-listen: expected <ip>:<port>');
    expect(all).toContain('--tls-key-file / CORRIDOR_TLS_KEY_FILE: required');
    expect(all).toContain('--wss-path: expected an absolute path like /ws');
    expect(all).toContain('--fallback: expected host:port');
    expect(all).toContain("--padding: expected off | buckets, got 'lots'");
  });

  it('parses host:port forms strictly', () => {
    expect(parseHostPort('127.0.0.1:8080', true)).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseHostPort('[::1]:80', true)).toEqual({ host: '::1', port: 80 });
    expect(parseHostPort('site.example:80', true)).toEqual({ host: 'site.example', port: 80 });
    for (const bad of [
      'site.example:80',
      ':80',
      '1.2.3.4',
      '1.2.3.4:0',
      '1.2.3.4:70000',
      '[nope]:1',
      'a_b:1',
    ])
      expect(parseHostPort(bad, bad === 'site.example:80' ? false : true), bad).toBeNull();
  });
});
