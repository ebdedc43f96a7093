// The browser routes of the connect flow. No API key: the connect token and the state are the
// capabilities. Thin: ConnectFlow decides, this file only speaks HTTP.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { BrowserAnswer, ConnectFlow } from './flow.ts';
import { notConfiguredPage } from './pages.ts';

function send(reply: FastifyReply, a: BrowserAnswer): FastifyReply {
  // Nothing here may be cached, framed, or leak the URL (code, state) through a Referer.
  reply
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  if (a.cookie) reply.header('set-cookie', a.cookie);
  if (a.kind === 'redirect') return reply.code(302).header('location', a.location).send();
  return reply.code(a.status).type('text/html; charset=utf-8').send(a.html);
}

export function registerConnectRoutes(app: FastifyInstance, flow: () => ConnectFlow | undefined): void {
  const notConfigured = (reply: FastifyReply) =>
    send(reply, { kind: 'page', status: 503, title: 'Connecting is not set up', html: notConfiguredPage() });

  app.get<{ Params: { token: string } }>('/connect/:token', async (req, reply) => {
    const f = flow();
    if (!f) return notConfigured(reply);
    return send(reply, await f.start(req.params.token));
  });

  app.get<{ Querystring: Record<string, unknown> }>('/oauth/callback', async (req, reply) => {
    const f = flow();
    if (!f) return notConfigured(reply);
    return send(reply, await f.callback(req.query ?? {}, req.headers.cookie));
  });
}
