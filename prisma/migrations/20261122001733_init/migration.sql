-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "ConnectionStatus" AS ENUM ('active', 'needs_reauth');

-- CreateEnum
CREATE TYPE "RefreshTrigger" AS ENUM ('scheduled', 'on_demand', 'forced', 'replay', 'feeder', 'cron', 'keepalive');

-- CreateTable
CREATE TABLE "Connection" (
    "id" UUID NOT NULL,
    "provider" TEXT NOT NULL,
    "externalId" TEXT NOT NULL,
    "status" "ConnectionStatus" NOT NULL DEFAULT 'active',
    "accessTokenEnc" TEXT NOT NULL,
    "refreshTokenEnc" TEXT NOT NULL,
    "encKeyId" TEXT NOT NULL,
    "tokenType" TEXT,
    "scope" TEXT,
    "expiresAt" TIMESTAMP(3),
    "refreshExpiresAt" TIMESTAMP(3),
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "version" INTEGER NOT NULL DEFAULT 1,
    "lastRefreshedAt" TIMESTAMP(3),
    "nextRefreshAt" TIMESTAMP(3),
    "consecutiveFailures" INTEGER NOT NULL DEFAULT 0,
    "failingSince" TIMESTAMP(3),
    "failingNotifiedAt" TIMESTAMP(3),
    "lastErrorCode" TEXT,
    "lastErrorDescription" TEXT,
    "lastErrorAt" TIMESTAMP(3),
    "reauthReason" TEXT,
    "reauthAt" TIMESTAMP(3),
    "parentId" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Connection_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RefreshAttempt" (
    "id" UUID NOT NULL,
    "connectionId" UUID NOT NULL,
    "provider" TEXT NOT NULL,
    "trigger" "RefreshTrigger" NOT NULL,
    "workerId" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),
    "outcome" TEXT,
    "httpStatus" INTEGER,
    "errorCode" TEXT,
    "errorDescription" TEXT,
    "providerRotated" BOOLEAN NOT NULL DEFAULT false,
    "uncertain" BOOLEAN NOT NULL DEFAULT false,
    "versionBefore" INTEGER NOT NULL,
    "versionAfter" INTEGER,
    "durationMs" INTEGER,
    "commitWindowUs" INTEGER,
    "tokenFingerprint" TEXT,

    CONSTRAINT "RefreshAttempt_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "OutboxEvent" (
    "id" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "connectionId" UUID,
    "provider" TEXT,
    "payload" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deliveredAt" TIMESTAMP(3),
    "deadAt" TIMESTAMP(3),
    "lastStatus" INTEGER,
    "lastError" TEXT,

    CONSTRAINT "OutboxEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ProviderState" (
    "provider" TEXT NOT NULL,
    "breakerState" TEXT NOT NULL DEFAULT 'closed',
    "openedAt" TIMESTAMP(3),
    "lastProbeAt" TIMESTAMP(3),
    "lastErrorCode" TEXT,
    "lastErrorDescription" TEXT,
    "credentialsFingerprint" TEXT,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ProviderState_pkey" PRIMARY KEY ("provider")
);

-- CreateIndex
CREATE INDEX "Connection_status_nextRefreshAt_id_idx" ON "Connection"("status", "nextRefreshAt", "id");

-- CreateIndex
CREATE INDEX "Connection_provider_status_idx" ON "Connection"("provider", "status");

-- CreateIndex
CREATE INDEX "Connection_encKeyId_idx" ON "Connection"("encKeyId");

-- CreateIndex
CREATE UNIQUE INDEX "Connection_provider_externalId_key" ON "Connection"("provider", "externalId");

-- CreateIndex
CREATE INDEX "RefreshAttempt_connectionId_startedAt_idx" ON "RefreshAttempt"("connectionId", "startedAt");

-- CreateIndex
CREATE INDEX "RefreshAttempt_startedAt_idx" ON "RefreshAttempt"("startedAt");

-- CreateIndex
CREATE INDEX "RefreshAttempt_outcome_startedAt_idx" ON "RefreshAttempt"("outcome", "startedAt");

-- CreateIndex
CREATE INDEX "OutboxEvent_deliveredAt_deadAt_nextAttemptAt_idx" ON "OutboxEvent"("deliveredAt", "deadAt", "nextAttemptAt");

-- CreateIndex
CREATE INDEX "OutboxEvent_createdAt_idx" ON "OutboxEvent"("createdAt");

-- AddForeignKey
ALTER TABLE "RefreshAttempt" ADD CONSTRAINT "RefreshAttempt_connectionId_fkey" FOREIGN KEY ("connectionId") REFERENCES "Connection"("id") ON DELETE CASCADE ON UPDATE CASCADE;
