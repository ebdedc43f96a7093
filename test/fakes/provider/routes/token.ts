// The persona's token endpoint: parameters from where the persona reads them, the request
// observer, injected faults and delays, client authentication, then the grant type's handler.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProviderCore } from '../core.ts';
import { faultReply } from '../faults.ts';
import { json, parseBasic, parseBody, readBody, send, type ParsedBody, type Reply } from '../http.ts';
import { buildAnswer, encodeFor } from '../personas/answers.ts';
import { FakeAuthorization } from './authorize.ts';
import { renderFailure, type Failure, type ReqCtx } from '../personas/errors.ts';
import type { Route } from '../server.ts';

type Params = Record<string, string>;

/** Runs after the request is well formed and the client authenticated. */
type GrantHandler = (core: ProviderCore, params: Params, ctx: ReqCtx, omitRefreshToken: boolean) => Reply;

/** The grant types the endpoint accepts (another one, e.g. authorization_code, is one more entry). */
const GRANTS = new Map<string, GrantHandler>([
  ['refresh_token', refreshGrant],
  ['authorization_code', codeGrant],
]);

export function tokenRoute(core: ProviderCore): Route {
  return async (req, res, url) => {
    if (!core.spec.matchPath(url.pathname)) return false;
    await serveToken(core, req, res, url);
    return true;
  };
}

async function serveToken(core: ProviderCore, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  let clientGone = false;
  res.on('close', () => {
    if (!res.writableFinished) clientGone = true;
  });
  if (req.method !== 'POST') {
    send(res, { ...json(405, { error: 'method_not_allowed' }), headers: { allow: 'POST' } });
    return;
  }
  const body = parseBody(req.headers['content-type'], await readBody(req));
  const ctx: ReqCtx = { wantsJson: /application\/json/i.test(String(req.headers.accept ?? '')) };
  const params = gatherParams(core, url, body);
  core.store.counters.refreshRequests++;
  observe(core, params, body);

  const f = core.faults.take();
  if (f?.delayMs) {
    await core.server.sleep(f.delayMs);
    if (core.server.closed) return;
    if (clientGone || req.socket.destroyed) {
      // The request never "reached the app": nothing rotates.
      core.store.counters.abortedBeforeProcessing++;
      return;
    }
  }
  const invalidClient = () =>
    fail(core, { kind: 'bad_client_secret', viaBasic: core.spec.clientAuth === 'basic' }, ctx);
  const faulted = f ? faultReply(f, core.persona, core.accessTtlSeconds, invalidClient) : undefined;
  if (faulted) {
    core.store.counters.faulted++;
    send(res, faulted);
    return;
  }
  const reply = processRequest(core, req, params, body, ctx, f?.omitRefreshToken ?? false);
  if (f?.delayAfterRotateMs) await core.server.sleep(f.delayAfterRotateMs);
  send(res, reply);
}

/** The parameters from the places this persona reads. */
function gatherParams(core: ProviderCore, url: URL, body: ParsedBody): Params {
  const params: Params = {};
  if (core.spec.params.includes('query')) for (const [k, v] of url.searchParams) params[k] = v;
  if (
    (body.type === 'form' && core.spec.params.includes('form')) ||
    (body.type === 'json' && core.spec.params.includes('json'))
  ) {
    Object.assign(params, body.data);
  }
  return params;
}

function observe(core: ProviderCore, params: Params, body: ParsedBody): void {
  const at = core.now();
  const presented = params.refresh_token ?? body.data.refresh_token;
  try {
    core.observer()?.({ grantId: presented ? core.store.grantIdOf(presented) : undefined, at });
  } catch {
    /* observer errors never break the endpoint */
  }
}

const fail = (core: ProviderCore, f: Failure, ctx: ReqCtx): Reply => renderFailure(core.persona, f, ctx, core.now);

function processRequest(
  core: ProviderCore,
  req: IncomingMessage,
  params: Params,
  body: ParsedBody,
  ctx: ReqCtx,
  omitRefreshToken: boolean,
): Reply {
  const malformed = malformedRequest(core, params, body);
  if (malformed) return fail(core, malformed, ctx);
  const grantType = params.grant_type;
  const handler = GRANTS.get(grantType);
  if (!handler) return fail(core, { kind: 'unsupported_grant_type', message: grantType }, ctx);
  const badClient = authenticateClient(core, req, params);
  if (badClient) return fail(core, badClient, ctx);
  return handler(core, params, ctx, omitRefreshToken);
}

/** A body the persona cannot read, or no grant_type where the persona looks for it. */
function malformedRequest(core: ProviderCore, params: Params, body: ParsedBody): Failure | undefined {
  if (body.type === 'invalid-json') return { kind: 'invalid_request', message: 'Request body is not valid JSON.' };
  if (core.spec.params.length === 1 && core.spec.params[0] === 'json' && body.type !== 'json') {
    return { kind: 'invalid_request', message: 'Content-Type must be application/json.' };
  }
  if (
    !params.grant_type ||
    (core.persona === 'gong' && !params.refresh_token && params.grant_type !== 'authorization_code')
  ) {
    const inBody = body.data.grant_type !== undefined || body.data.refresh_token !== undefined;
    const msg =
      core.persona === 'gong' && inBody
        ? 'grant_type and refresh_token must be sent as query string parameters, not in the request body.'
        : `Missing grant_type; expected ${core.spec.paramsHint}.`;
    return { kind: 'invalid_request', message: msg };
  }
  return undefined;
}

/** Client credentials from where the persona takes them (Basic, the body, or either). */
function authenticateClient(core: ProviderCore, req: IncomingMessage, params: Params): Failure | undefined {
  const basic = parseBasic(req.headers.authorization);
  const viaHeader = core.spec.clientAuth === 'basic' || (core.spec.clientAuth === 'either' && basic);
  const id = viaHeader ? basic?.id : params.client_id;
  const secret = viaHeader ? basic?.secret : params.client_secret;
  const rawId = viaHeader ? basic?.rawId : params.client_id;
  const rawSecret = viaHeader ? basic?.rawSecret : params.client_secret;
  const viaBasic = Boolean(viaHeader) && basic !== undefined;
  if (id !== core.clientId && rawId !== core.clientId) return { kind: 'bad_client_id', viaBasic };
  if (secret !== core.clientSecret && rawSecret !== core.clientSecret) return { kind: 'bad_client_secret', viaBasic };
  return undefined;
}

function refreshGrant(core: ProviderCore, params: Params, ctx: ReqCtx, omitRefreshToken: boolean): Reply {
  const token = params.refresh_token;
  if (!token) return fail(core, { kind: 'invalid_request', message: 'Missing refresh_token.' }, ctx);
  const r = core.store.refresh(token, omitRefreshToken);
  if (!r.ok) return fail(core, r.failure, ctx);
  return encodeFor(core.persona, ctx.wantsJson, 200, buildAnswer(core, r.grant, r.accessToken, r.refreshToken));
}

/** The code exchange: codes are single-use and bound to redirect_uri and the PKCE challenge. */
function codeGrant(core: ProviderCore, params: Params, ctx: ReqCtx, omitRefreshToken: boolean): Reply {
  const r = core.authorization().exchange(params);
  if (!r.ok) {
    const f = FakeAuthorization.failureBody(core.persona, r.description);
    return encodeFor(core.persona, ctx.wantsJson, f.status, f.body);
  }
  if (omitRefreshToken) delete r.raw.refresh_token;
  return encodeFor(core.persona, ctx.wantsJson, 200, r.raw);
}
