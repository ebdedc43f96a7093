// The connection named by a route's :id, shared by the connection and token routes.
import type { FastifyReply } from 'fastify';
import type { Connection } from '../../generated/prisma/client.ts';
import { connectionById } from '../../store/connection-queries.ts';
import type { Db } from '../../store/db.ts';
import { isUuid } from '../../util/ids.ts';
import { bad, notFound } from '../replies.ts';

export const NOT_A_CONNECTION_ID = 'must be a connection id (uuid)';

/** The row, or null once the reply is sent: 400 when the id is not a uuid, 404 when no row has it. */
export async function loadById(db: Db, id: string, reply: FastifyReply): Promise<Connection | null> {
  if (!isUuid(id)) {
    bad(reply, 'id', NOT_A_CONNECTION_ID);
    return null;
  }
  const row = await connectionById(db, id);
  if (!row) notFound(reply);
  return row;
}
