-- CreateTable
CREATE TABLE "ConnectSession" (
    "id" UUID NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "externalId" TEXT NOT NULL,
    "returnUrl" TEXT NOT NULL,
    "connectionId" UUID,
    "scopes" JSONB NOT NULL DEFAULT '[]',
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "status" TEXT NOT NULL DEFAULT 'pending',
    "stateHash" TEXT,
    "bindingHash" TEXT,
    "codeVerifierEnc" TEXT,
    "startedAt" TIMESTAMP(3),
    "stateConsumedAt" TIMESTAMP(3),
    "outcome" TEXT,
    "resultConnectionId" UUID,
    "errorCode" TEXT,
    "errorDescription" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "ConnectSession_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ConnectSession_tokenHash_key" ON "ConnectSession"("tokenHash");

-- CreateIndex
CREATE UNIQUE INDEX "ConnectSession_stateHash_key" ON "ConnectSession"("stateHash");

-- CreateIndex
CREATE INDEX "ConnectSession_provider_externalId_createdAt_idx" ON "ConnectSession"("provider", "externalId", "createdAt");

-- CreateIndex
CREATE INDEX "ConnectSession_resultConnectionId_createdAt_idx" ON "ConnectSession"("resultConnectionId", "createdAt");
