// The console's HTTP side: sign-in with an API key (a form, no JavaScript), then read-only pages;
// the one write is creating a reconnect link, for keys with token access. Thin: data.ts reads,
// views.ts renders, session.ts decides who is signed in.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Scope } from './session.ts';
import type { ConnectFlow } from '../connect/flow.ts';
import { createSession } from '../connect/session.ts';
import type { Connection } from '../generated/prisma/client.ts';
import { connectionById } from '../store/connection-queries.ts';
import { isUuid } from '../util/ids.ts';
import { loadDetail, loadList, loadOverview, type ConsoleData } from './data.ts';
import { CSS, messagePage, signInPage } from './layout.ts';
import {
  readSessionCookie,
  scopeOfKey,
  scopeOfSession,
  sessionCookie,
  sessionValue,
  SESSION_TTL_MS,
  type ConsoleKeys,
} from './session.ts';
import type { ListFilter, ReconnectOffer } from './types.ts';
import { connectionPage, connectionsPage, overviewPage } from './views.ts';

export interface ConsoleDeps extends ConsoleData {
  keys: ConsoleKeys;
  /** Secure cookies (PUBLIC_URL is https). */
  secure: boolean;
  /** The hosted connect flow (reconnect links); undefined while PUBLIC_URL is not set. */
  flow: () => ConnectFlow | undefined;
  now?: () => number;
}

const CSP =
  "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function send(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(body);
}

/** The list's filter from the query string: unknown values are dropped, never echoed as given. */
export function filterOf(q: Record<string, unknown>): ListFilter {
  const s = (k: string) => (typeof q[k] === 'string' && q[k] !== '' ? q[k].slice(0, 200) : undefined);
  const status = s('status');
  const page = Number(s('page') ?? '1');
  return {
    status: status === 'active' || status === 'needs_reauth' ? status : undefined,
    provider: s('provider'),
    search: s('q'),
    reason: s('reason'),
    page: Number.isInteger(page) && page >= 1 && page <= 100_000 ? page : 1,
  };
}

function offerFor(d: ConsoleDeps, scope: Scope, c: Connection): ReconnectOffer {
  if (scope !== 'token') return { kind: 'hidden' };
  const flow = d.flow();
  if (!flow)
    return {
      kind: 'unavailable',
      why: 'Reconnect links need the hosted connect flow: the operator has to set PUBLIC_URL.',
    };
  if (!flow.config.returnUrls.length)
    return {
      kind: 'unavailable',
      why: 'Reconnect links need a return URL: the operator has to set CONNECT_RETURN_URLS.',
    };
  if (!d.providers.get(c.provider)?.authorizeUrl)
    return {
      kind: 'unavailable',
      why: 'This provider has no authorizeUrl, so it cannot be reconnected through the hosted flow.',
    };
  return { kind: 'button' };
}

async function reconnectLink(d: ConsoleDeps, c: Connection): Promise<ReconnectOffer> {
  const flow = d.flow()!;
  const r = await createSession({ db: d.db, sessions: d.sessions, providers: d.providers, now: d.now }, flow.config, {
    provider: c.provider,
    externalId: c.externalId,
    connectionId: c.id,
    returnUrl: flow.config.returnUrls[0],
  });
  return r.kind === 'created'
    ? { kind: 'link', url: r.body.url, expiresAt: r.body.expiresAt }
    : { kind: 'failed', message: r.message };
}

/**
 * A POST from another site is refused (SameSite=Lax already keeps the cookie off it): by the
 * browser's Sec-Fetch-Site, else by Origin. Pages say Referrer-Policy: same-origin, so that the
 * browser names our origin rather than "null".
 */
function crossOrigin(req: FastifyRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site) return site !== 'same-origin';
  const origin = req.headers.origin;
  if (!origin) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

export function registerConsole(app: FastifyInstance, d: ConsoleDeps): void {
  const now = d.now ?? Date.now;
  void app.register(async (scope) => {
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 4096 },
      (_req, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      },
    );
    scope.addHook('onRequest', async (req, reply) => {
      reply
        .header('cache-control', 'no-store')
        .header('content-security-policy', CSP)
        .header('referrer-policy', 'same-origin')
        .header('x-content-type-options', 'nosniff')
        .header('x-frame-options', 'DENY');
      if (req.method === 'POST' && crossOrigin(req))
        return send(reply, 403, messagePage('Refused', 'This form was sent from another site.', false));
    });
    const viewer = (req: FastifyRequest) => scopeOfSession(d.keys, readSessionCookie(req.headers.cookie), now());
    // Every page but the sign-in form and the stylesheet needs a session.
    const signedIn = async (req: FastifyRequest, reply: FastifyReply) => {
      if (!viewer(req)) return reply.code(303).header('location', '/console/sign-in').send();
    };

    scope.get('/console/console.css', async (_req, reply) =>
      reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=300').send(CSS),
    );
    scope.get('/console/sign-in', async (_req, reply) => send(reply, 200, signInPage(false)));
    scope.post<{ Body: Record<string, string> | undefined }>('/console/sign-in', async (req, reply) => {
      const key = typeof req.body?.key === 'string' ? req.body.key.trim() : '';
      if (!key || !scopeOfKey(d.keys, key)) return send(reply, 401, signInPage(true));
      const cookie = sessionCookie(sessionValue(d.keys, key, now()), {
        secure: d.secure,
        maxAgeSec: SESSION_TTL_MS / 1000,
      });
      return reply.code(303).header('set-cookie', cookie).header('location', '/console').send();
    });
    scope.post('/console/sign-out', async (_req, reply) =>
      reply
        .code(303)
        .header('set-cookie', sessionCookie('', { secure: d.secure, maxAgeSec: 0 }))
        .header('location', '/console/sign-in')
        .send(),
    );

    scope.get('/console', { preHandler: signedIn }, async (_req, reply) =>
      send(reply, 200, overviewPage(await loadOverview(d, now()))),
    );
    scope.get<{ Querystring: Record<string, unknown> }>(
      '/console/connections',
      { preHandler: signedIn },
      async (req, reply) => send(reply, 200, connectionsPage(await loadList(d, filterOf(req.query ?? {})), now())),
    );

    const load = async (id: string, reply: FastifyReply): Promise<Connection | null> => {
      const c = isUuid(id) ? await connectionById(d.db, id) : null;
      if (!c)
        send(
          reply,
          404,
          messagePage('No such connection', 'There is no connection with this id. It may have been deleted.'),
        );
      return c;
    };
    scope.get<{ Params: { id: string } }>('/console/connections/:id', { preHandler: signedIn }, async (req, reply) => {
      const c = await load(req.params.id, reply);
      if (!c) return reply;
      return send(reply, 200, connectionPage(await loadDetail(d, c, now()), offerFor(d, viewer(req)!, c), now()));
    });
    scope.post<{ Params: { id: string } }>(
      '/console/connections/:id/reconnect',
      { preHandler: signedIn },
      async (req, reply) => {
        const c = await load(req.params.id, reply);
        if (!c) return reply;
        const offer = offerFor(d, viewer(req)!, c);
        if (offer.kind === 'hidden')
          return send(
            reply,
            403,
            messagePage('Not allowed', 'Creating a reconnect link needs a key with token access (API_KEYS).'),
          );
        const made = offer.kind === 'button' ? await reconnectLink(d, c) : offer;
        return send(
          reply,
          made.kind === 'link' ? 200 : 409,
          connectionPage(await loadDetail(d, c, now()), made, now()),
        );
      },
    );
  });
}
