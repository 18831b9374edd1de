/** The declarative shape every `vpnctl` command folder exports. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly isTTY: boolean;
  readonly env: NodeJS.ProcessEnv;
}

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: ReadonlyArray<{ readonly flag: string; readonly description: string }>;
  readonly examples: ReadonlyArray<string>;
  run(args: readonly string[], io: CliIo): Promise<number>;
}

/** Help text in the house format: Usage, Options, Examples. */
export function formatHelp(spec: CommandSpec): string {
  const lines = [`${spec.summary}`, '', 'Usage:', `  ${spec.usage}`];
  if (spec.options.length > 0) {
    lines.push('', 'Options:');
    const width = Math.max(...spec.options.map((o) => o.flag.length));
    for (const o of spec.options) lines.push(`  ${o.flag.padEnd(width)}  ${o.description}`);
  }
  if (spec.examples.length > 0) {
    lines.push('', 'Examples:');
    for (const e of spec.examples) lines.push(`  ${e}`);
  }
  return lines.join('\n') + '\n';
}
