-- CreateTable
CREATE TABLE "WebhookEndpointGone" (
    "urlHash" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "goneAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "eventId" UUID NOT NULL,

    CONSTRAINT "WebhookEndpointGone_pkey" PRIMARY KEY ("urlHash")
);
