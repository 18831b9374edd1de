-- Controller hardening (issue 7): one node per static key, tombstones of revoked device keys, the
-- revocation feed's generation counter, and indexes for retention.

-- Enrollment's clash check was check-then-act, so two nodes may hold the same key. Keep the key on
-- the node that enrolled first; the others lose it (and their credentials) and must re-enroll.
WITH ranked AS (
    SELECT id, row_number() OVER (PARTITION BY static_public_key ORDER BY enrolled_at, id) AS n
    FROM "nodes" WHERE static_public_key IS NOT NULL
)
UPDATE "nodes" SET static_public_key = NULL, enrolled_at = NULL
WHERE id IN (SELECT id FROM ranked WHERE n > 1);
UPDATE "node_credentials" SET revoked_at = now()
WHERE revoked_at IS NULL AND node_id IN (SELECT id FROM "nodes" WHERE static_public_key IS NULL);

-- CreateTable
CREATE TABLE "device_key_tombstones" (
    "public_key" TEXT NOT NULL,
    "device_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "revoked_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "device_key_tombstones_pkey" PRIMARY KEY ("public_key")
);

-- Devices revoked before this migration get their tombstones too.
INSERT INTO "device_key_tombstones" (public_key, device_id, user_id, revoked_at)
SELECT public_key, id, user_id, revoked_at FROM "devices" WHERE revoked_at IS NOT NULL
ON CONFLICT DO NOTHING;

-- CreateTable
CREATE TABLE "revocation_feed_state" (
    "id" SMALLINT NOT NULL DEFAULT 1,
    "generation" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "revocation_feed_state_pkey" PRIMARY KEY ("id")
);

-- Cursors used to start with the number of lifted revocations: keep counting from there so cursors
-- nodes hold stay valid.
INSERT INTO "revocation_feed_state" (id, generation)
SELECT 1, count(*) FROM "revocations" WHERE lifted_at IS NOT NULL;

-- CreateIndex
CREATE INDEX "device_key_tombstones_user_id_idx" ON "device_key_tombstones"("user_id");

-- CreateIndex
CREATE INDEX "refresh_tokens_expires_at_idx" ON "refresh_tokens"("expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "nodes_static_public_key_key" ON "nodes"("static_public_key");

-- CreateIndex
CREATE INDEX "tickets_expires_at_idx" ON "tickets"("expires_at");

-- CreateIndex
CREATE INDEX "sessions_last_seen_at_idx" ON "sessions"("last_seen_at");
