/**
 * systemd unit files and KEY=VALUE environment files, read for the checks in test/deploy.
 * Units: sections of `Key=value` assignments in order (a key may repeat; an empty assignment resets
 * list settings, as systemd does), `#`/`;` comments, trailing-backslash continuations.
 */

export type UnitFile = Map<string, [string, string][]>;

export function parseUnitFile(text: string): UnitFile {
  const sections: UnitFile = new Map();
  let section: [string, string][] | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i]!.trim();
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      section = [];
      sections.set(header[1] as string, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (section === null || eq <= 0)
      throw new Error(`line ${i + 1}: not an assignment in a section: ${line}`);
    section.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** Every value of `key` in `section` after the last empty (resetting) assignment. */
export function values(unit: UnitFile, section: string, key: string): string[] {
  const out: string[] = [];
  for (const [k, v] of unit.get(section) ?? []) {
    if (k !== key) continue;
    if (v === '') out.length = 0;
    else out.push(v);
  }
  return out;
}

/** The effective single value of `key` (the last assignment), or undefined. */
export function value(unit: UnitFile, section: string, key: string): string | undefined {
  const all = (unit.get(section) ?? []).filter(([k]) => k === key);
  return all.length === 0 ? undefined : all[all.length - 1]![1];
}

/** `Environment=A=1 B=2` lines (one or more assignments per line, optionally double-quoted). */
export function environment(unit: UnitFile): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of values(unit, 'Service', 'Environment'))
    for (const m of line.matchAll(/"([^"=]+)=([^"]*)"|([^\s"=]+)=(\S*)/g))
      env[(m[1] ?? m[3]) as string] = (m[2] ?? m[4]) as string;
  return env;
}

/** KEY=VALUE lines (systemd EnvironmentFile / Compose .env): comments, blanks and quotes handled. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m === null) throw new Error(`line ${i + 1}: not KEY=VALUE: ${line}`);
    let v = m[2] as string;
    if (/^(["']).*\1$/.test(v)) v = v.slice(1, -1);
    env[m[1] as string] = v;
  });
  return env;
}
