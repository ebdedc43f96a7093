// GET /api/me: a resource call, so a test can see whether the provider's API accepts an access token.

import type { ProviderCore } from '../core.ts';
import { json, send } from '../http.ts';
import type { Route } from '../server.ts';

export function resourceRoute(core: ProviderCore): Route {
  return async (req, res, url) => {
    if (url.pathname !== '/api/me' || req.method !== 'GET') return false;
    const m = /^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? '');
    const info = m ? core.store.checkAccessToken(m[1]) : { active: false, reason: 'unknown' as const };
    const g = info.grantId ? core.store.grant(info.grantId) : undefined;
    send(
      res,
      info.active && g
        ? json(200, { grantId: g.grantId, userId: g.userId })
        : json(401, { error: 'invalid_token', reason: info.reason }),
    );
    return true;
  };
}
