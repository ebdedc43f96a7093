-- CreateIndex
CREATE INDEX "OutboxEvent_pending_order_idx" ON "OutboxEvent"("createdAt", "id") WHERE ("deliveredAt" IS NULL AND "deadAt" IS NULL);

-- CreateIndex
CREATE INDEX "OutboxEvent_pending_connection_order_idx" ON "OutboxEvent"("connectionId", "createdAt", "id") WHERE ("deliveredAt" IS NULL AND "deadAt" IS NULL);
