// The cleanup core's safety rules, without root: a run record (a file anyone with root could have
// edited) can only ever remove that run's own namespaces, /etc/netns dirs and work dir, and a pid is
// only killed when its start time proves it is the process that was recorded.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cleanupRunSync,
  isSameProcessAlive,
  NS_PATTERN,
  orphanRecord,
  procStartTime,
  workDirFor,
  type RunRecord,
} from './state.js';

function record(over: Partial<RunRecord>): RunRecord {
  return {
    version: 1,
    runId: 'aaaaaa',
    label: 'state.test',
    owner: { pid: 0, startTime: null },
    createdAt: new Date().toISOString(),
    dir: workDirFor('aaaaaa', 'state.test'),
    keepDir: false,
    namespaces: [],
    processes: [],
    ...over,
  };
}

describe('run records', () => {
  it('trusts a pid only with the start time it was recorded with', () => {
    const mine = procStartTime(process.pid);
    expect(mine).toMatch(/^\d+$/);
    expect(isSameProcessAlive({ pid: process.pid, startTime: mine })).toBe(true);
    expect(isSameProcessAlive({ pid: process.pid, startTime: `${Number(mine) + 1}` })).toBe(false);
    expect(isSameProcessAlive({ pid: process.pid, startTime: null })).toBe(false);
    expect(isSameProcessAlive({ pid: 1, startTime: procStartTime(1) })).toBe(false);
    expect(isSameProcessAlive({ pid: 0, startTime: '0' })).toBe(false);
  });

  it('ignores namespace names that are not of the run, and kills nothing it cannot prove it started', () => {
    const report = cleanupRunSync(
      record({
        namespaces: ['crl-zzzzzz-web', 'eth0', '../../etc', 'crl-aaaaaa-../x'],
        processes: [{ pid: process.pid, startTime: null, name: 'me' }],
      }),
    );
    expect(report.problems.filter((p) => p.startsWith('ignored namespace'))).toHaveLength(4);
    expect(report.namespaces).toEqual([]);
    expect(report.etcDirs).toEqual([]);
    expect(report.killed).toBe(0); // and we are still here
  });

  it('removes a work dir of the lab’s shape, and never any other directory', () => {
    const own = workDirFor('aaaaaa', 'state.test');
    mkdirSync(own, { recursive: true });
    expect(cleanupRunSync(record({ dir: own })).workDir).toBe(own);
    expect(existsSync(own)).toBe(false);

    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'not-a-lab-'));
    const other = workDirFor('bbbbbb', 'x'); // another run's dir
    mkdirSync(other, { recursive: true });
    try {
      for (const dir of [elsewhere, other, os.tmpdir(), '/']) {
        expect(cleanupRunSync(record({ dir })).workDir, dir).toBeUndefined();
      }
      expect(existsSync(elsewhere) && existsSync(other)).toBe(true);
      // keepDir keeps even the run's own dir.
      mkdirSync(own, { recursive: true });
      expect(cleanupRunSync(record({ dir: own, keepDir: true })).workDir).toBeUndefined();
      expect(existsSync(own)).toBe(true);
    } finally {
      for (const d of [elsewhere, other, own]) rmSync(d, { recursive: true, force: true });
    }
  });

  it('names namespaces so the pattern finds the run id and host', () => {
    expect(NS_PATTERN.exec('crl-k3j9x2-node-eu')?.slice(1)).toEqual(['k3j9x2', 'node-eu']);
    expect(NS_PATTERN.test('crtun-123-1')).toBe(false);
    expect(orphanRecord('k3j9x2', ['crl-k3j9x2-web'])).toMatchObject({
      keepDir: true,
      namespaces: ['crl-k3j9x2-web'],
    });
  });
});
