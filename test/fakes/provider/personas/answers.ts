// What each persona's success looks like: the metadata a grant carries (instance_url, team, ...)
// and the JSON of an authorization or refresh answer, in the persona's own shape.

import { createHmac, randomUUID } from 'node:crypto';
import { formEncoded, json, type Reply } from '../http.ts';
import { randAlnumUpper, randDigits, randHex } from '../random.ts';
import type { GrantState } from '../store.ts';
import type { Persona } from '../types.ts';

/** What a persona's answer depends on besides the grant. */
export interface AnswerCtx {
  persona: Persona;
  accessTtlSeconds: number;
  clientSecret: string;
  now: () => number;
}

export function personaMeta(persona: Persona, g: GrantState): Record<string, unknown> {
  switch (persona) {
    case 'gong':
      return { api_base_url_for_customer: `https://us-${randDigits(5)}.api.gong.io` };
    case 'salesforce': {
      const org = `00D${randAlnumUpper(15)}`;
      const user = `005${randAlnumUpper(15)}`;
      return {
        instance_url: `https://fake-${randHex(4)}.my.salesforce.com`,
        id: `https://login.salesforce.com/id/${org}/${user}`,
      };
    }
    case 'slack':
      return g.kind === 'user'
        ? {}
        : {
            app_id: `A${randAlnumUpper(10)}`,
            bot_user_id: `U${randAlnumUpper(10)}`,
            team: { id: `T${randAlnumUpper(10)}`, name: 'Fake Team' },
          };
    case 'notion':
      return {
        bot_id: randomUUID(),
        workspace_id: randomUUID(),
        workspace_name: 'Fake Workspace',
        workspace_icon: null,
        owner: { type: 'user', user: { object: 'user', id: randomUUID() } },
      };
    case 'zoom':
      return { api_url: 'https://api.zoom.us' };
    default:
      return {};
  }
}

/** The success JSON for this persona (authorization answer or refresh answer). */
export function buildAnswer(
  c: AnswerCtx,
  g: GrantState,
  accessToken: string,
  refreshToken: string | undefined,
): Record<string, unknown> {
  const ttl = c.accessTtlSeconds;
  const m = g.meta;
  const rt = refreshToken === undefined ? {} : { refresh_token: refreshToken };
  switch (c.persona) {
    case 'gong':
      return {
        access_token: accessToken,
        ...rt,
        scope: g.scope,
        token_type: 'bearer',
        expires_in: ttl,
        api_base_url_for_customer: m.api_base_url_for_customer,
      };
    case 'salesforce': {
      const issuedAt = String(c.now());
      const id = String(m.id);
      const signature = createHmac('sha256', c.clientSecret)
        .update(id + issuedAt)
        .digest('base64');
      return {
        access_token: accessToken,
        ...rt,
        signature,
        scope: g.scope,
        instance_url: m.instance_url,
        id,
        token_type: 'Bearer',
        issued_at: issuedAt,
      };
    }
    case 'slack': {
      const base = { ok: true, app_id: m.app_id, access_token: accessToken, expires_in: ttl, ...rt, scope: g.scope };
      const tail = { team: m.team, enterprise: null, is_enterprise_install: false };
      if (g.kind === 'user') return { ...base, token_type: 'user', user_id: g.userId, ...tail };
      return { ...base, token_type: 'bot', bot_user_id: m.bot_user_id, ...tail };
    }
    case 'google':
      return { access_token: accessToken, expires_in: ttl, ...rt, scope: g.scope, token_type: 'Bearer' };
    case 'microsoft':
      return {
        token_type: 'Bearer',
        scope: g.scope,
        expires_in: ttl,
        ext_expires_in: ttl,
        access_token: accessToken,
        ...rt,
      };
    case 'hubspot':
      return { token_type: 'bearer', ...rt, access_token: accessToken, expires_in: ttl };
    case 'github':
      return {
        access_token: accessToken,
        expires_in: ttl,
        ...rt,
        ...(refreshToken !== undefined ? { refresh_token_expires_in: 15897600 } : {}),
        scope: g.scope,
        token_type: 'bearer',
      };
    case 'atlassian':
      return { access_token: accessToken, expires_in: ttl, token_type: 'Bearer', ...rt, scope: g.scope };
    case 'xero':
      return { access_token: accessToken, expires_in: ttl, token_type: 'Bearer', ...rt, scope: g.scope };
    case 'zoom':
      return {
        access_token: accessToken,
        token_type: 'bearer',
        ...rt,
        expires_in: ttl,
        scope: g.scope,
        api_url: m.api_url,
      };
    case 'notion': // Notion shows no expiry in the answer.
      return {
        access_token: accessToken,
        token_type: 'bearer',
        ...rt,
        bot_id: m.bot_id,
        workspace_name: m.workspace_name,
        workspace_icon: m.workspace_icon,
        workspace_id: m.workspace_id,
        owner: m.owner,
        duplicated_template_id: null,
        request_id: randomUUID(),
      };
    case 'shopify':
      return {
        access_token: accessToken,
        scope: g.scope,
        expires_in: ttl,
        ...rt,
        ...(refreshToken !== undefined ? { refresh_token_expires_in: 7776000 } : {}),
      };
    case 'standard':
    default:
      return { access_token: accessToken, token_type: 'Bearer', expires_in: ttl, ...rt, scope: g.scope };
  }
}

/** The authorization-time answer: the persona's answer plus any metadata / `extra` it lacks. */
export function buildAuthorizeAnswer(c: AnswerCtx, g: GrantState, accessToken: string): Record<string, unknown> {
  const out = buildAnswer(c, g, accessToken, g.current);
  for (const [k, v] of Object.entries(g.meta)) if (!(k in out)) out[k] = v;
  return out;
}

/** A token-endpoint body in the persona's encoding: GitHub answers form-encoded unless asked for JSON. */
export function encodeFor(persona: Persona, wantsJson: boolean, status: number, obj: Record<string, unknown>): Reply {
  return persona === 'github' && !wantsJson ? formEncoded(status, obj) : json(status, obj);
}
