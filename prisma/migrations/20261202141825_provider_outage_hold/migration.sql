-- AlterTable
ALTER TABLE "ProviderState" ADD COLUMN     "holdNextProbeAt" TIMESTAMP(3),
ADD COLUMN     "holdProbes" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "holdSince" TIMESTAMP(3),
ADD COLUMN     "holdState" TEXT NOT NULL DEFAULT 'closed';
