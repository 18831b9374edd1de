import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '@corridor/protocol';
import { COMMANDS } from '../src/commands/index.js';
import { runCli, tempHome } from './helpers/cli.js';

const env = tempHome().env;

describe('vpnctl main', () => {
  it('prints root help with usage, commands and examples on stderr, exit 2 without a command', async () => {
    const r = await runCli([], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Usage:[\s\S]*Commands:[\s\S]*login[\s\S]*connect[\s\S]*Examples:/);
    expect(r.stdout).toBe('');
    const help = await runCli(['--help'], { env });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Commands:');
  });

  it('unknown command exits 2, names it and suggests a close one', async () => {
    const r = await runCli(['nodez'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'nodez' (did you mean 'nodes'?)");
  });

  it('version --json prints data on stdout only', async () => {
    const r = await runCli(['version', '--json'], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ version: '0.1.0', protocolVersion: PROTOCOL_VERSION });
    expect(r.stderr).toBe('');
  });

  it('usage errors print the command help and exit 2', async () => {
    const r = await runCli(['version', '--bogus'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("vpnctl version: unknown option '--bogus'");
    expect(r.stderr).toContain('Usage:');
    const extra = await runCli(['version', 'extra'], { env });
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain("unexpected argument 'extra'");
  });

  it('every command has help with Usage, Options and Examples (also through `vpnctl help <cmd>`)', async () => {
    for (const c of COMMANDS) {
      const r = await runCli([c.spec.name, '--help'], { env });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(`Usage:\\n {2}vpnctl ${c.spec.name}[\\s\\S]*Options:[\\s\\S]*--debug[\\s\\S]*Examples:`),
      );
    }
    const r = await runCli(['help', 'nodes'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('vpnctl nodes [--region R] [--json]');
  });
});
