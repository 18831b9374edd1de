import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAddonAt } from './native.js';
import type { TunError } from './errors.js';

function thrown(fn: () => unknown): TunError {
  try {
    fn();
  } catch (err) {
    return err as TunError;
  }
  throw new Error('expected a throw');
}

describe('native addon loader', () => {
  it('explains how to build the addon when it is missing', () => {
    const e = thrown(() => loadAddonAt('/nonexistent/corridor_tun.node'));
    expect(e.code).toBe('CORRIDOR_ERR_TUN_NOT_BUILT');
    expect(e.message).toContain('/nonexistent/corridor_tun.node');
    expect(e.hint).toContain('pnpm --filter @corridor/tun run build:native');
  });

  it('reports a file that is not a loadable addon', () => {
    const dir = mkdtempSync(join(tmpdir(), 'corridor-tun-'));
    const path = join(dir, 'corridor_tun.node');
    writeFileSync(path, 'not an ELF file');
    const e = thrown(() => loadAddonAt(path));
    rmSync(dir, { recursive: true, force: true });
    expect(e.code).toBe('CORRIDOR_ERR_TUN_NOT_BUILT');
    expect(e.message).toContain('failed to load');
  });

  it('refuses other platforms with a pointer to the memory pair', () => {
    const e = thrown(() => loadAddonAt('/whatever', 'darwin'));
    expect(e.code).toBe('CORRIDOR_ERR_TUN_UNSUPPORTED');
    expect(e.hint).toContain('MemoryTun');
  });
});
