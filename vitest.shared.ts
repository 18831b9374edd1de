// Shared vitest settings: resolve workspace packages to their TypeScript sources
// (the "source" export condition) so tests never need a prior build.
import path from 'node:path';
import { defineConfig } from 'vitest/config';

const conditions = ['source', 'node', 'import', 'module', 'default'];
// SSR (the Node side, where tests run) leaves out `import`: with it Node hands the CommonJS `pg`
// package the ESM build of `pg-pool` ("Class extends value [object Module]").
const ssrConditions = ['source', 'node', 'module', 'default'];

// scripts/test.sh sets CORRIDOR_TEST_REPORT_DIR so every package also writes a JSON report that
// scripts/test-summary.mjs adds up into one closing line for the whole workspace.
const reportDir = process.env.CORRIDOR_TEST_REPORT_DIR;
const reportName = path.basename(process.cwd());

export const sharedConfig = defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions: ssrConditions, externalConditions: [] } },
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
