/**
 * Running vpnctl in tests: in-process through `main` with captured streams (fast, most tests), or as
 * a real process (`node --import tsx src/index.ts`) for exit codes, signals and terminals.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/main.js';
import type { Prompter } from '../../src/output/prompt.js';

export const CLI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const VPNCTL = path.join(CLI_DIR, 'src/index.ts');
export const TSX = path.resolve(CLI_DIR, '../../node_modules/tsx/dist/esm/index.mjs');
/** argv that starts vpnctl from source. */
export const VPNCTL_ARGV = [process.execPath, '--import', TSX, '--conditions=source', VPNCTL];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A private home for one test: XDG dirs inside a temporary directory. */
export function tempHome(): { dir: string; env: Record<string, string>; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vpnctl-home-'));
  return {
    dir,
    env: {
      HOME: dir,
      XDG_CONFIG_HOME: path.join(dir, 'config'),
      XDG_STATE_HOME: path.join(dir, 'state'),
      XDG_RUNTIME_DIR: path.join(dir, 'run'),
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export async function runCli(
  argv: string[],
  opts: { env: Record<string, string>; stdin?: string; prompter?: Prompter; isTTY?: boolean },
): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const stdin = new PassThrough();
  stdin.end(opts.stdin ?? '');
  const code = await main(argv, {
    stdout,
    stderr,
    stdin,
    isTTY: opts.isTTY ?? false,
    env: { PATH: process.env.PATH ?? '', ...opts.env },
    ...(opts.prompter ? { prompter: opts.prompter } : {}),
  });
  return { code, stdout: out, stderr: err };
}

/** Runs the real vpnctl process (no terminal) and collects its output. */
export function runProcess(
  argv: string[],
  opts: { env: Record<string, string>; stdin?: string; timeoutMs?: number; prefix?: string[] },
): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  const full = [...(opts.prefix ?? []), ...VPNCTL_ARGV, ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(full[0]!, full.slice(1), {
      env: { PATH: process.env.PATH ?? '', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, signal, stdout, stderr });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

/** A scripted prompter: answers in order, records the questions. */
export function scriptedPrompter(answers: string[]): Prompter & { questions: string[] } {
  const questions: string[] = [];
  const next = (q: string) => {
    questions.push(q);
    const a = answers.shift();
    if (a === undefined) throw new Error(`unexpected prompt: ${q}`);
    return Promise.resolve(a);
  };
  return {
    questions,
    line: next,
    secret: next,
    confirm: async (q) => ['y', 'yes'].includes((await next(q)).toLowerCase()),
  };
}
