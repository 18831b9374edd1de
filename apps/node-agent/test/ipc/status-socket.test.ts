import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { queryStatus, serveStatus } from '../../src/ipc/status-socket.js';
import { renderMetrics } from '../../src/metrics.js';
import { createLogger, RateLimitedLog } from '../../src/log.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('status socket', () => {
  it('is mode 0600, answers one JSON document, and replaces a stale socket', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'corridor-status-'));
    dirs.push(dir);
    const file = path.join(dir, 'status.sock');
    const first = await serveStatus(file, () => ({ n: 1 }));
    await new Promise<void>((r) => first.close(() => r()));
    const server = await serveStatus(file, () => ({ nodeId: 'fra-1', sessions: [] }));
    try {
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(await queryStatus(file)).toEqual({ nodeId: 'fra-1', sessions: [] });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    await expect(queryStatus(path.join(dir, 'missing.sock'))).rejects.toThrow(/no node agent is running/);
  });

  it('never deletes what is not a socket at its path (a mistyped --status-socket)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'corridor-status-'));
    dirs.push(dir);
    const file = path.join(dir, 'important.conf');
    writeFileSync(file, 'keep me');
    await expect(serveStatus(file, () => ({}))).rejects.toThrow(/not a socket/);
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });
});

describe('metrics and logs', () => {
  it('renders Prometheus text with escaped labels', () => {
    const text = renderMetrics([
      {
        name: 'corridor_node_drops_total',
        help: 'Drops.',
        type: 'counter',
        values: [{ labels: { reason: 'a"b' }, value: 3 }],
      },
    ]);
    expect(text).toBe(
      '# HELP corridor_node_drops_total Drops.\n# TYPE corridor_node_drops_total counter\ncorridor_node_drops_total{reason="a\\"b"} 3\n',
    );
  });

  it('never writes secrets and rate-limits repeated warnings', () => {
    const lines: string[] = [];
    const log = createLogger('debug', (l) => lines.push(l));
    log.info('enrolled', {
      nodeCredential: 'secret-value',
      enrollmentToken: 'tok',
      ticket: Buffer.from('x'),
      nodeId: 'fra-1',
    });
    expect(lines[0]).not.toContain('secret-value');
    expect(lines[0]).not.toContain('tok"');
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'info',
      msg: 'enrolled',
      nodeId: 'fra-1',
      nodeCredential: '[redacted]',
    });
    let now = 0;
    const rl = new RateLimitedLog(log, 1000, 2, () => now);
    for (let i = 0; i < 10; i++) rl.warn('k', 'handshake refused');
    expect(lines.length).toBe(3);
    now = 2000;
    rl.warn('k', 'handshake refused');
    expect(lines.slice(3).map((l) => JSON.parse(l).suppressed)).toEqual([8, undefined]);
  });
});
