// packages/netstack is sans-IO: nothing under src/ (tests aside) may reach the network, the file
// system or other processes — the kernel tests and the benchmark do that I/O. (The same rule the
// workspace ESLint config applies to packages/protocol.)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const FORBIDDEN = [
  'net',
  'dgram',
  'fs',
  'fs/promises',
  'http',
  'https',
  'http2',
  'tls',
  'child_process',
  'cluster',
  'dns',
  'worker_threads',
  '@corridor/tun',
];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) return files(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

describe('sans-IO', () => {
  it('no source file imports network, file-system or process modules', () => {
    const offenders: string[] = [];
    const list = files(SRC);
    expect(list.length).toBeGreaterThan(20);
    for (const f of list) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"]([^'"]+)['"]/g)) {
        const spec = (m[1] as string).replace(/^node:/, '');
        if (FORBIDDEN.includes(spec)) offenders.push(`${path.relative(SRC, f)}: ${m[1]}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
