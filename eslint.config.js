// Flat config shared by the whole workspace.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/build/**', '**/node_modules/**', '**/generated/**', '**/coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // packages/protocol and packages/netstack are sans-IO: they must never reach the network or the file system.
    files: ['packages/protocol/src/**/*.ts', 'packages/netstack/src/**/*.ts'],
    ignores: ['packages/*/src/**/*.test.ts', 'packages/protocol/bench/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            'node:dgram',
            'node:net',
            'node:fs',
            'node:fs/promises',
            'node:http',
            'node:https',
            'node:tls',
            'node:child_process',
            'dgram',
            'net',
            'fs',
            'http',
            'https',
            'tls',
            'child_process',
          ],
        },
      ],
    },
  },
);
