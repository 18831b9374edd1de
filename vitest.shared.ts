// Shared vitest settings: resolve workspace packages to their TypeScript sources
// (the "source" export condition) so tests never need a prior build.
import path from 'node:path';
import { defineConfig } from 'vitest/config';

const conditions = ['source', 'node', 'import', 'module', 'default'];

// scripts/test.sh sets CORRIDOR_TEST_REPORT_DIR so every package also writes a JSON report that
// scripts/test-summary.mjs adds up into one closing line for the whole workspace.
const reportDir = process.env.CORRIDOR_TEST_REPORT_DIR;
const reportName = path.basename(process.cwd());

export const sharedConfig = defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  test: {
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 60_000,
    ...(reportDir
      ? {
          reporters: ['default', 'json'],
          outputFile: { json: path.join(reportDir, `${reportName}.json`) },
        }
      : {}),
  },
});
