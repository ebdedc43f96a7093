// Webhook URLs that answered 410 Gone (the Standard Webhooks "stop sending" signal). A URL is
// known by the sha256 of its full text; only a display form without credentials is stored.
import type { Db } from './db.ts';

export interface GoneEndpoint {
  urlHash: string;
  url: string;
  goneAt: Date;
  eventId: string;
}

export async function isEndpointGone(db: Db, urlHash: string): Promise<boolean> {
  return (await db.webhookEndpointGone.count({ where: { urlHash } })) > 0;
}

/** Records the first 410 of a URL (a later one, from any process at the same time, keeps it). */
export async function markEndpointGone(
  db: Db,
  e: { urlHash: string; url: string; eventId: string; at: Date },
): Promise<void> {
  await db.$executeRaw`
    INSERT INTO "WebhookEndpointGone" ("urlHash", "url", "goneAt", "eventId")
    VALUES (${e.urlHash}, ${e.url}, ${e.at}, ${e.eventId}::uuid)
    ON CONFLICT ("urlHash") DO NOTHING`;
}

export async function listGoneEndpoints(db: Db): Promise<GoneEndpoint[]> {
  return db.webhookEndpointGone.findMany({ orderBy: { goneAt: 'desc' } });
}

/**
 * Lets deliveries to these URLs (every one without urlHashes) start again; returns how many. The
 * event each URL answered 410 to (still leased, see the dispatcher) is made due at `now`, so it goes first.
 */
export async function resumeEndpoints(db: Db, urlHashes: string[] | undefined, now: Date): Promise<number> {
  const where = urlHashes ? { urlHash: { in: urlHashes } } : {};
  return db.$transaction(async (tx) => {
    const gone = await tx.webhookEndpointGone.findMany({ where, select: { eventId: true } });
    const res = await tx.webhookEndpointGone.deleteMany({ where });
    await tx.outboxEvent.updateMany({
      where: { id: { in: gone.map((g) => g.eventId) }, deliveredAt: null },
      data: { nextAttemptAt: now },
    });
    return res.count;
  });
}
