import { defineConfig, mergeConfig } from 'vitest/config';
import { sharedConfig } from '../../vitest.shared.js';

// Controller suites boot real PostgreSQL/Redis-backed apps: allow more time per test and hook.
export default mergeConfig(
  sharedConfig,
  defineConfig({ test: { testTimeout: 30_000, hookTimeout: 90_000 } }),
);
