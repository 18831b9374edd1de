// Prisma 6.19 CLI configuration. The schema lives in the workspace-level prisma/ folder.
// `engine: 'js'` with the pg driver adapter keeps the CLI from downloading native engines (this
// machine is offline). Only `prisma generate` and `prisma migrate diff` are used; migrations are
// applied by our own runner (src/db/migrate.ts), so the adapter's URL is only a placeholder unless
// DATABASE_URL is set.
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import { defineConfig } from 'prisma/config';

// schema.prisma reads env("DATABASE_URL"); generate/diff never connect, so a placeholder is enough.
process.env.DATABASE_URL ??= 'postgresql://localhost:5432/corridor';

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join(import.meta.dirname, '../../prisma/schema.prisma'),
  migrations: { path: path.join(import.meta.dirname, '../../prisma/migrations') },
  adapter: async () => new PrismaPg({ connectionString: process.env.DATABASE_URL }),
});
