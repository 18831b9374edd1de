-- Why a session ended, as the node reported it in a heartbeat's `ended` list (SESSION_END_REASONS);
-- null for sessions that vanished from heartbeats without a report.

-- AlterTable
ALTER TABLE "sessions" ADD COLUMN     "end_reason" TEXT;
