// The JSON admin API under /_admin/ (for the fake-provider-server CLI, the demo, chaos and bench):
// issue and revoke grants, arm faults, read the ledger, stats and settings.

import type { ProviderCore } from '../core.ts';
import { issueGrant } from '../issue.ts';
import { json, readBody, safeDecode, send, type Reply } from '../http.ts';
import type { Route } from '../server.ts';

export function adminRoute(core: ProviderCore, info: () => Record<string, unknown>): Route {
  return async (req, res, url) => {
    if (!url.pathname.startsWith('/_admin/')) return false;
    const body = await readBody(req);
    send(res, handleAdmin(core, info, req.method ?? 'GET', url.pathname, body));
    return true;
  };
}

type Parsed = { ok: true; body: Record<string, unknown> } | { ok: false; reply: Reply };

function parseObject(bodyBuf: Buffer): Parsed {
  if (bodyBuf.length === 0) return { ok: true, body: {} };
  try {
    const parsed: unknown = JSON.parse(bodyBuf.toString('utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return { ok: true, body: parsed as Record<string, unknown> };
    return { ok: false, reply: json(400, { error: 'body must be a JSON object' }) };
  } catch {
    return { ok: false, reply: json(400, { error: 'invalid JSON' }) };
  }
}

function handleAdmin(
  core: ProviderCore,
  info: () => Record<string, unknown>,
  method: string,
  path: string,
  bodyBuf: Buffer,
): Reply {
  const parsed = parseObject(bodyBuf);
  if (!parsed.ok) return parsed.reply;
  const { body } = parsed;
  const parts = path.split('/').filter(Boolean).map(safeDecode); // ['_admin', ...]
  const route = `${method} /${parts.slice(1).join('/')}`;
  try {
    return (
      grantRoutes(core, method, parts, route, body) ??
      faultRoutes(core, route, body) ??
      readRoutes(core, info, route) ??
      json(404, { error: 'unknown admin route', route })
    );
  } catch (err) {
    return json(400, { error: String(err instanceof Error ? err.message : err) });
  }
}

function grantRoutes(
  core: ProviderCore,
  method: string,
  parts: string[],
  route: string,
  body: Record<string, unknown>,
): Reply | undefined {
  if (route === 'POST /grants') {
    const userId = typeof body.userId === 'string' ? body.userId : undefined;
    const extra = body.extra && typeof body.extra === 'object' ? (body.extra as Record<string, unknown>) : undefined;
    return json(200, issueGrant(core, { userId, extra }));
  }
  if (method === 'POST' && parts.length === 4 && parts[1] === 'grants' && parts[3] === 'revoke') {
    const id = parts[2];
    if (!core.store.grant(id)) return json(404, { error: 'unknown grant', grantId: id });
    core.store.revokeGrant(id, typeof body.reason === 'string' ? body.reason : undefined);
    return json(200, { ok: true });
  }
  if (method === 'GET' && parts.length === 3 && parts[1] === 'grants') {
    const g = core.store.ledger().grants.find((x) => x.grantId === parts[2]);
    return g ? json(200, g) : json(404, { error: 'unknown grant', grantId: parts[2] });
  }
  return undefined;
}

function faultRoutes(core: ProviderCore, route: string, body: Record<string, unknown>): Reply | undefined {
  if (route === 'POST /faults') {
    core.faults.set(body);
    return json(200, { ok: true, faults: core.faults.current() ?? null });
  }
  if (route === 'DELETE /faults') {
    core.faults.clear();
    return json(200, { ok: true });
  }
  if (route === 'GET /faults') return json(200, { faults: core.faults.current() ?? null });
  return undefined;
}

function readRoutes(core: ProviderCore, info: () => Record<string, unknown>, route: string): Reply | undefined {
  if (route === 'GET /ledger') return json(200, core.store.ledger());
  if (route === 'GET /stats') return json(200, core.store.stats());
  if (route === 'GET /info') return json(200, info());
  return undefined;
}
