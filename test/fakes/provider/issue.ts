// Issuing a grant, as an authorization-code exchange would: a new grant in the store and the
// answer the persona gives at authorization time (Slack: a bot grant plus a separate user grant).

import type { ProviderCore } from './core.ts';
import { buildAuthorizeAnswer } from './personas/answers.ts';
import { randAlnumUpper } from './random.ts';
import type { IssuedGrant } from './types.ts';

export interface IssueRequest {
  userId?: string;
  extra?: Record<string, unknown>;
}

export function issueGrant(core: ProviderCore, opts: IssueRequest): IssuedGrant {
  if (core.persona === 'slack') return issueSlackGrant(core, opts);
  const g = core.store.newGrant('default', opts.userId, opts.extra);
  const at = core.store.newAccessToken(g);
  const raw = buildAuthorizeAnswer(core, g, at);
  return { grantId: g.grantId, accessToken: at, refreshToken: g.current, expiresIn: core.accessTtlSeconds, raw };
}

function issueSlackGrant(core: ProviderCore, opts: IssueRequest): IssuedGrant {
  const { store } = core;
  const bot = store.newGrant('bot', undefined, opts.extra);
  const user = store.newGrant('user', opts.userId ?? `U${randAlnumUpper(10)}`, undefined);
  // Both tokens belong to the same installation.
  user.meta = { ...bot.meta, ...user.meta };
  const botAt = store.newAccessToken(bot);
  const userAt = store.newAccessToken(user);
  const raw = buildAuthorizeAnswer(core, bot, botAt);
  raw.authed_user = {
    id: user.userId,
    scope: user.scope,
    access_token: userAt,
    token_type: 'user',
    refresh_token: user.current,
    expires_in: core.accessTtlSeconds,
  };
  return {
    grantId: bot.grantId,
    accessToken: botAt,
    refreshToken: bot.current,
    expiresIn: core.accessTtlSeconds,
    raw,
    userGrantId: user.grantId,
  };
}
