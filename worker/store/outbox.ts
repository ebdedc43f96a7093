// Transactional outbox: an event row is written in the same transaction as the state change that
// causes it, so no state changes without its event and no event leaves for a rolled-back change.
import type { Prisma } from '../generated/prisma/client.ts';

export type EventType =
  | 'connection.created'
  | 'connection.needs_reauth'
  | 'connection.recovered'
  | 'connection.refresh_failing'
  | 'provider.credentials_invalid'
  | 'provider.credentials_restored';

type Tx = Prisma.TransactionClient;

export async function enqueueEvent(
  tx: Tx,
  type: EventType,
  data: { connectionId?: string; provider?: string; payload: Record<string, unknown> },
): Promise<void> {
  await tx.outboxEvent.create({
    data: {
      type,
      connectionId: data.connectionId ?? null,
      provider: data.provider ?? null,
      payload: data.payload as Prisma.InputJsonValue,
    },
  });
}
