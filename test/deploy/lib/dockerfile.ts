/**
 * A Dockerfile reader for the checks in test/deploy (no Docker engine here): instructions with
 * line continuations and comment lines removed, grouped into build stages, global ARG defaults
 * substituted into FROM, COPY/ADD flags split off, exec-form (JSON array) arguments decoded.
 * Covers the syntax our Dockerfiles use; heredocs are not supported and are reported as errors.
 */

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, ... */
  readonly keyword: string;
  /** Everything after the keyword, continuation lines joined with a space. */
  readonly args: string;
  /** 1-based line of the keyword. */
  readonly line: number;
}

export interface Stage {
  /** `AS name`, or the stage index as a string. */
  readonly name: string;
  /** The base image or stage, ARGs substituted. */
  readonly from: string;
  readonly instructions: Instruction[];
}

export interface Dockerfile {
  /** ARG defaults declared before the first FROM. */
  readonly globalArgs: Record<string, string>;
  readonly stages: Stage[];
}

export interface CopyInstruction {
  /** The stage named by --from, or null for the build context. */
  readonly from: string | null;
  readonly sources: string[];
  readonly dest: string;
  readonly flags: Record<string, string>;
}

export function parseInstructions(text: string): Instruction[] {
  const lines = text.split('\n');
  const out: Instruction[] = [];
  let current: { parts: string[]; line: number } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string;
    const trimmed = raw.trim();
    // Comment lines are dropped, also inside a continuation (as Docker does).
    if (trimmed.startsWith('#')) continue;
    if (current === null && trimmed === '') continue;
    const continues = /\\\s*$/.test(raw);
    const content = continues ? raw.replace(/\\\s*$/, '') : raw;
    if (current === null) current = { parts: [], line: i + 1 };
    current.parts.push(content.trim());
    if (!continues) {
      const joined = current.parts.filter((p) => p !== '').join(' ');
      const m = /^([A-Za-z]+)\s*(.*)$/.exec(joined);
      if (m === null) throw new Error(`line ${current.line}: not an instruction: ${joined}`);
      if (/<<-?\s*["']?[A-Za-z]/.test(m[2] as string) && m[1]!.toUpperCase() !== 'RUN')
        throw new Error(`line ${current.line}: heredocs are not supported by this reader`);
      out.push({ keyword: m[1]!.toUpperCase(), args: m[2] as string, line: current.line });
      current = null;
    }
  }
  if (current !== null) throw new Error(`line ${current.line}: continuation at end of file`);
  return out;
}

/** `${NAME}` / `$NAME` / `${NAME:-default}` from `vars`. */
export function substituteArgs(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_all, braced: string | undefined, def: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare) as string;
      return vars[name] ?? def ?? '';
    },
  );
}

/** `NAME=value` pairs of ARG/ENV (the `ENV NAME value` legacy form too). Quotes are removed. */
export function parseAssignments(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  const legacy = /^([A-Za-z_][A-Za-z0-9_]*)\s+([^=].*)$/.exec(args);
  if (legacy && !args.includes('=')) {
    out[legacy[1] as string] = legacy[2] as string;
    return out;
  }
  const re = /([A-Za-z_][A-Za-z0-9_]*)(?:=("(?:[^"\\]|\\.)*"|'[^']*'|\S*))?/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(args)) !== null) {
    let v = m[2] ?? '';
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1] as string] = v;
  }
  return out;
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of parseInstructions(text)) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (m === null) throw new Error(`line ${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({
        name: m[2] ?? String(stages.length),
        from: substituteArgs(m[1] as string, globalArgs),
        instructions: [],
      });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (stage === undefined) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
      Object.assign(globalArgs, parseAssignments(ins.args));
      continue;
    }
    stage.instructions.push(ins);
  }
  return { globalArgs, stages };
}

/** Splits a COPY/ADD instruction: `--flag=value` options, sources, destination (shell or JSON form). */
export function parseCopy(ins: Instruction): CopyInstruction {
  const flags: Record<string, string> = {};
  let rest = ins.args;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest);
    if (m === null) break;
    flags[m[1] as string] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
  const parts = rest.trim().startsWith('[') ? (JSON.parse(rest) as string[]) : rest.trim().split(/\s+/);
  if (parts.length < 2) throw new Error(`line ${ins.line}: ${ins.keyword} needs a source and a destination`);
  return {
    from: flags.from ?? null,
    sources: parts.slice(0, -1),
    dest: parts[parts.length - 1] as string,
    flags,
  };
}

/** Exec-form arguments of CMD/ENTRYPOINT (or HEALTHCHECK's CMD), or null for the shell form. */
export function execForm(args: string): string[] | null {
  const s = args.trim();
  if (!s.startsWith('[')) return null;
  const parsed = JSON.parse(s) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string'))
    throw new Error(`not a JSON array of strings: ${s}`);
  return parsed;
}

/** The environment a stage's image starts with: its ENV instructions (not inherited ones). */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of stage.instructions)
    if (ins.keyword === 'ENV') Object.assign(env, parseAssignments(ins.args));
  return env;
}

/** The last instruction with `keyword` in a stage, or undefined. */
export function last(stage: Stage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).pop();
}

/**
 * Whether `.dockerignore` patterns exclude a context path (POSIX, relative). Patterns follow
 * Docker's rules: `*` within one path segment, `**` across segments, `!` re-includes, the last
 * matching pattern wins, and a pattern matching a directory excludes everything below it.
 */
export function dockerIgnored(patterns: readonly string[], file: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    const pattern = (negate ? line.slice(1) : line).replace(/^\/+/, '').replace(/\/+$/, '');
    const re = new RegExp(
      '^' +
        pattern
          .split('/')
          .map((seg) =>
            seg === '**'
              ? '(?:.*)'
              : seg
                  .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                  .replace(/\*/g, '[^/]*')
                  .replace(/\?/g, '[^/]'),
          )
          .join('/')
          .replace(/\(\?:\.\*\)\//g, '(?:.*/)?') +
        '(?:/.*)?$',
    );
    if (re.test(file)) ignored = !negate;
  }
  return ignored;
}
