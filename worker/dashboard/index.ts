// Bull Board at /admin/queues: every queue of the daemon (maintenance + every shard queue of each provider in use).
// Read-only unless ADMIN_QUEUES_WRITABLE=true (config.adminQueuesWritable).
// Protected by the API key: "Authorization: Bearer <key>", or HTTP Basic with the key as the
// password (any user name), which is what a browser can send: open /admin/queues, the browser asks.
// Read-only: any key (read or token scope). Writable: changing anything needs a token-scope key.
// A refresh job's data shows the row's nextRefreshAt, not the stale plan it was queued with (plans.ts).
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeys } from '../api/auth.ts';
import { nextRefreshTimes } from '../store/connection-queries.ts';
import { providersWithConnections } from '../store/providers-in-use.ts';
import { providersInUse } from '../schedule/policy.ts';
import { RefreshQueueAdapter } from './plans.ts';
import type { DaemonExtension, ExtensionHost } from '../interfaces.ts';

const DASHBOARD_PATH = '/admin/queues';

/** Bearer key or Basic password, as the "Bearer <key>" header ApiKeys checks. */
export function bearerFrom(header: string | undefined): string | undefined {
  if (!header) return undefined;
  if (/^Bearer\s+/i.test(header)) return header;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  const password = i >= 0 ? decoded.slice(i + 1) : decoded;
  return password ? `Bearer ${password}` : undefined;
}

export class DashboardExtension implements DaemonExtension {
  readonly name = 'dashboard';

  constructor(private readonly opts: { writable?: boolean } = {}) {}

  async routes(
    app: FastifyInstance,
    _auth: unknown,
    d: Pick<ExtensionHost, 'config' | 'queues' | 'providers' | 'db'>,
  ): Promise<void> {
    const writable = this.opts.writable ?? d.config.adminQueuesWritable;
    const keys = new ApiKeys(d.config.apiKeys);
    const adapterOpts = { readOnlyMode: !writable, allowRetries: writable };
    const plans = (ids: string[]) => nextRefreshTimes(d.db, ids);
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(DASHBOARD_PATH);
    createBullBoard({
      queues: [
        // The adapter's bullmq typings lag behind the installed major; the runtime API it uses is the same.
        new BullMQAdapter(d.queues.maintenance as never, adapterOpts),
        // Every shard queue of each provider in use (at start).
        ...providersInUse(d.providers.all(), await providersWithConnections(d.db)).flatMap((p) =>
          d.queues.refreshQueues(p.key).map((q) => new RefreshQueueAdapter(q, adapterOpts, plans)),
        ),
      ],
      serverAdapter,
      options: { uiConfig: { boardTitle: writable ? 'oauth-refresher queues' : 'oauth-refresher queues (read-only)' } },
    });
    const guard = async (req: FastifyRequest, reply: FastifyReply) => {
      const scope = keys.check(bearerFrom(req.headers.authorization));
      if (!scope) {
        return reply
          .code(401)
          .header('www-authenticate', 'Basic realm="oauth-refresher queues", charset="UTF-8"')
          .send({ error: 'unauthorized' });
      }
      const mutating = req.method !== 'GET' && req.method !== 'HEAD';
      if (mutating && !writable)
        return reply
          .code(405)
          .send({ error: 'read_only', message: 'the queue dashboard is read-only (ADMIN_QUEUES_WRITABLE=false)' });
      if (mutating && scope !== 'token') return reply.code(403).send({ error: 'forbidden' });
    };
    await app.register(async (scope) => {
      scope.addHook('onRequest', guard);
      await scope.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH });
    });
  }
}
