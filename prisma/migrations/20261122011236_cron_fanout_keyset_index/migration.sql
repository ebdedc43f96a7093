-- DropIndex
DROP INDEX "Connection_provider_status_idx";

-- CreateIndex
CREATE INDEX "Connection_provider_status_id_idx" ON "Connection"("provider", "status", "id");
