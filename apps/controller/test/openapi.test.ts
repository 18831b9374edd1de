/**
 * The OpenAPI document (GET /docs/json) is what API users generate clients from: it must pass
 * `redocly lint` with the recommended rules, with zero errors and zero warnings. Redocly CLI comes
 * from npm (devDependency) and runs offline: as root the lint runs in an empty network namespace
 * (`unshare -n`), so a rule or plugin that reached for the network would fail here.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type App } from '../src/app.js';
import { makeConfig, tempDir } from './helpers.js';

const run = promisify(execFile);
const redocly = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')),
  'bin/cli.js',
);
const isRoot = process.getuid?.() === 0;

describe('OpenAPI document', () => {
  let app: App;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir();
    app = await build(makeConfig({ CORRIDOR_DATA_DIR: tmp.dir }));
  });
  afterAll(async () => {
    await app?.close();
    await tmp?.remove();
  });

  it('passes `redocly lint` (recommended rules) with zero errors and zero warnings, offline', async () => {
    const doc = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(doc.statusCode).toBe(200);
    const file = path.join(tmp.dir, 'openapi.json');
    await writeFile(file, doc.body);
    const args = [redocly, 'lint', file, '--extends', 'recommended', '--format', 'json'];
    if (!isRoot) console.warn('not root: running redocly lint without an empty network namespace');
    const { stdout } = await run(
      isRoot ? 'unshare' : process.execPath,
      isRoot ? ['-n', process.execPath, ...args] : args,
      {
        env: {
          ...process.env,
          REDOCLY_TELEMETRY: 'off',
          REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
          NO_COLOR: '1',
        },
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    const report = JSON.parse(stdout) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; message: string; location?: { pointer?: string }[] }[];
    };
    const problems = report.problems.map(
      (p) => `${p.ruleId}: ${p.message} ${p.location?.[0]?.pointer ?? ''}`,
    );
    expect(problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it('names every operation (operationId, summary) and declares its security', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{
      paths: Record<string, Record<string, { operationId?: string; summary?: string; security?: unknown[] }>>;
    }>();
    const ids = new Set<string>();
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const label = `${method.toUpperCase()} ${p}`;
        expect(op.operationId, label).toMatch(/^[a-zA-Z]+$/);
        expect(ids.has(op.operationId!), `${label} duplicates ${op.operationId}`).toBe(false);
        ids.add(op.operationId!);
        expect(op.summary, label).toBeTruthy();
        expect(Array.isArray(op.security), label).toBe(true);
      }
    }
    expect(ids.has('authorizeSession')).toBe(true);
    expect(ids.has('listRevocations')).toBe(true);
  });
});
