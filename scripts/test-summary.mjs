// Adds up the vitest JSON reports in the given folder and prints one closing line:
// "Tests: N passed, N failed, N skipped". A test file that failed to load (syntax error, a throw at
// import time, a failing beforeAll) has no test results of its own: it counts as one failed test, so
// the line can never say "0 failed" while the run failed. A package with a `test` script but no report
// (vitest crashed before writing one) counts the same way. Exits 1 if anything failed or no test ran.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** Workspace folders whose package.json has a `test` script: each must leave a report. */
function expectedReports() {
  const names = [];
  for (const group of ['apps', 'packages']) {
    const base = path.join(root, group);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base)) names.push(path.join(base, name));
  }
  names.push(path.join(root, 'test'));
  return names
    .filter((d) => existsSync(path.join(d, 'package.json')))
    .filter((d) => JSON.parse(readFileSync(path.join(d, 'package.json'), 'utf8')).scripts?.test)
    .map((d) => path.basename(d));
}

let passed = 0;
let failed = 0;
let skipped = 0;
const seen = new Set();
for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()) {
  const name = file.replace(/\.json$/, '');
  seen.add(name);
  const report = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  // Files that failed without any test result of their own: load errors and suite-level failures.
  const unloaded = (report.testResults ?? []).filter(
    (r) => r.status === 'failed' && (r.assertionResults ?? []).every((a) => a.status !== 'failed'),
  );
  const pkgFailed = report.numFailedTests + unloaded.length;
  const pkgSkipped = report.numPendingTests + (report.numTodoTests ?? 0);
  passed += report.numPassedTests;
  failed += pkgFailed;
  skipped += pkgSkipped;
  console.log(
    `  ${name.padEnd(14)} ${report.numPassedTests} passed, ${pkgFailed} failed, ${pkgSkipped} skipped`,
  );
  for (const r of unloaded) {
    const where = path.relative(root, r.name);
    const why = (r.message ?? '').split('\n')[0].slice(0, 200);
    console.log(`    failed to load or set up: ${where}${why ? ` (${why})` : ''}`);
  }
}
for (const name of expectedReports()) {
  if (seen.has(name)) continue;
  failed += 1;
  console.log(
    `  ${name.padEnd(14)} no report: its test run crashed before writing one (counted as 1 failed)`,
  );
}
console.log(`Tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
