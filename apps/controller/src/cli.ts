#!/usr/bin/env node
/**
 * corridor-controller <command>
 *   serve                      start the HTTPS controller (default)
 *   migrate                    apply database migrations and exit
 *   create-admin --email E     create an admin; password from --password or CORRIDOR_ADMIN_PASSWORD
 *
 * Configuration comes from the environment and `.env` (see .env.example). With no DATABASE_URL the
 * embedded database in the data dir is used: one process at a time (a lock in the data dir refuses
 * `migrate` or `create-admin` while an embedded controller runs there; stop it first).
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.js';
import { startServer } from './server.js';
import { build } from './app.js';
import { createAdmin } from './bootstrap.js';
import { migrate } from './db/migrate.js';
import { EmbeddedDatabaseInUseError, startEmbeddedPostgres } from './db/embedded.js';
import { MIN_PASSWORD_LENGTH } from './lib/passwords.js';

const USAGE = `Usage: corridor-controller [serve | migrate | create-admin --email <email> [--password <password>]]

Options:
  --email       admin e-mail (create-admin)
  --password    admin password (create-admin; prefer CORRIDOR_ADMIN_PASSWORD to keep it out of shell history)
  -h, --help    show this help

Examples:
  corridor-controller serve
  CORRIDOR_ADMIN_PASSWORD=... corridor-controller create-admin --email admin@example.com
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      email: { type: 'string' },
      password: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const command = positionals[0] ?? 'serve';
  const config = loadConfig();
  switch (command) {
    case 'serve':
      await startServer(config);
      return -1; // keep running
    case 'migrate': {
      if (config.databaseUrl === undefined) {
        const embedded = await startEmbeddedPostgres(config.dataDir);
        try {
          report(await migrate(embedded.url));
        } finally {
          await embedded.stop();
        }
      } else {
        report(await migrate(config.databaseUrl));
      }
      return 0;
    }
    case 'create-admin': {
      const email = values.email;
      const password = values.password ?? process.env.CORRIDOR_ADMIN_PASSWORD;
      if (!email || !password) {
        process.stderr.write(`create-admin needs --email and a password\n\n${USAGE}`);
        return 2;
      }
      if (password.length < MIN_PASSWORD_LENGTH) {
        process.stderr.write(`password must be at least ${MIN_PASSWORD_LENGTH} characters\n`);
        return 1;
      }
      const app = await build({ ...config, logLevel: 'warn' });
      try {
        const res = await createAdmin(app, email, password);
        process.stdout.write(
          res === 'created' ? `admin ${email} created\n` : `a user ${email} already exists\n`,
        );
        return res === 'created' ? 0 : 1;
      } finally {
        await app.close();
      }
    }
    default:
      process.stderr.write(`unknown command ${command}\n\n${USAGE}`);
      return 2;
  }
}

function report(r: { applied: string[]; skipped: string[] }): void {
  process.stdout.write(
    `migrations applied: ${r.applied.length ? r.applied.join(', ') : 'none'} (already applied: ${r.skipped.length})\n`,
  );
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    if (e instanceof ConfigError || e instanceof EmbeddedDatabaseInUseError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`corridor-controller: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
