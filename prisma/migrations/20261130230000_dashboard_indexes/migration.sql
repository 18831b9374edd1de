-- Indexes of the admin dashboard's queries (see `pnpm bench:admin`). Generated with
-- `prisma migrate diff --from-schema-datamodel <previous schema> --to-schema-datamodel prisma/schema.prisma --script`;
-- the trigram index is wrapped by hand in a check for the pg_trgm extension it needs.
--
-- pg_trgm is part of PostgreSQL's contrib (Debian ships it with the server) and is a trusted extension,
-- so the database owner may create it. The embedded PGlite provides it only when it is loaded at start;
-- without it the index is skipped and the e-mail search scans (embedded databases are small).

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    -- CreateIndex
    CREATE INDEX "users_email_trgm_idx" ON "users" USING GIN ("email" gin_trgm_ops);
  END IF;
END $$;

-- CreateIndex
CREATE INDEX "sessions_node_id_started_at_idx" ON "sessions"("node_id", "started_at");
