import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '@corridor/protocol';
import { main } from '../src/main.js';

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (c: Buffer) => out.push(c.toString()));
  stderr.on('data', (c: Buffer) => err.push(c.toString()));
  return { io: { stdout, stderr, isTTY: false, env: {} }, out: () => out.join(''), err: () => err.join('') };
}

describe('vpnctl main', () => {
  it('prints root help with usage, commands and examples, exit 2 without a command', async () => {
    const t = io();
    expect(await main([], t.io)).toBe(2);
    expect(t.out()).toMatch(/Usage:[\s\S]*Commands:[\s\S]*version[\s\S]*Examples:/);
  });

  it('unknown command exits 2 and names it on stderr', async () => {
    const t = io();
    expect(await main(['frobnicate'], t.io)).toBe(2);
    expect(t.err()).toContain("unknown command 'frobnicate'");
  });

  it('version --json prints data on stdout only', async () => {
    const t = io();
    expect(await main(['version', '--json'], t.io)).toBe(0);
    expect(JSON.parse(t.out())).toEqual({ version: '0.1.0', protocolVersion: PROTOCOL_VERSION });
    expect(t.err()).toBe('');
  });

  it('usage errors print the command help and exit 2', async () => {
    const t = io();
    expect(await main(['version', '--bogus'], t.io)).toBe(2);
    expect(t.err()).toContain('unknown argument: --bogus');
    expect(t.err()).toContain('Usage:');
  });

  it('command --help prints Usage, Options, Examples', async () => {
    const t = io();
    expect(await main(['version', '--help'], t.io)).toBe(0);
    expect(t.out()).toMatch(/Usage:\n {2}vpnctl version[\s\S]*Options:[\s\S]*Examples:/);
  });
});
