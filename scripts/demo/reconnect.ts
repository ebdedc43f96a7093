// The demo's reconnect walk: the revoked connection gets a hosted connect link, the "user" follows it
// through the fake provider's consent page (answered automatically, as a browser would submit it),
// and the connection comes back active with the same id.
export interface ReconnectWalkInput {
  api: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
  provider: string;
  connectionId: string;
  externalId: string;
  user: string;
  returnUrl: string;
  say: (line: string) => void;
}

export interface ReconnectWalkResult {
  ok: boolean;
  detail: string;
}

/** One hop without following redirects: status, Location, and the cookie it set (name=value only). */
async function hop(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; location?: string; cookie?: string; text: string }> {
  const res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(20_000) });
  const setCookie = res.headers.get('set-cookie') ?? undefined;
  return {
    status: res.status,
    location: res.headers.get('location') ?? undefined,
    cookie: setCookie?.split(';')[0],
    text: await res.text(),
  };
}

export async function reconnectWalk(i: ReconnectWalkInput): Promise<ReconnectWalkResult> {
  const s = await i.api('POST', '/v1/connect-sessions', {
    provider: i.provider,
    externalId: i.externalId,
    returnUrl: i.returnUrl,
  });
  if (s.status !== 201)
    return { ok: false, detail: `POST /v1/connect-sessions answered ${s.status}: ${JSON.stringify(s.body)}` };
  i.say(`  POST /v1/connect-sessions → ${s.body.mode} link for ${i.user} (expires ${s.body.expiresAt})`);
  // 1. The link sends the browser to the provider and binds it with a cookie.
  const start = await hop(s.body.url);
  if (start.status !== 302 || !start.location || !start.cookie)
    return { ok: false, detail: `the connect link answered ${start.status}` };
  i.say(
    `  GET /connect/<token> → 302 to the provider's consent page (PKCE S256, single-use state, cookie bound to this browser)`,
  );
  // 2. The consent page, then "Allow".
  const page = await hop(start.location);
  const requestId = /name="request" value="([^"]+)"/.exec(page.text)?.[1];
  if (page.status !== 200 || !requestId)
    return { ok: false, detail: `the provider's consent page answered ${page.status}` };
  const decision = await hop(new URL('/authorize/decision', start.location).toString(), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ request: requestId, user: i.user, decision: 'allow' }).toString(),
  });
  if (decision.status !== 302 || !decision.location)
    return { ok: false, detail: `the consent answered ${decision.status}` };
  i.say(`  ${i.user} clicks "Allow" at the provider → back to /oauth/callback with a code`);
  // 3. The callback, from the same "browser" (its cookie), exchanges the code and reconnects in place.
  const cb = await hop(decision.location, { headers: { cookie: start.cookie } });
  const back = cb.location ? new URL(cb.location) : undefined;
  if (cb.status !== 302 || !back) return { ok: false, detail: `the callback answered ${cb.status}` };
  const status = back.searchParams.get('status');
  const id = back.searchParams.get('connection_id');
  i.say(
    `  GET /oauth/callback → 302 to the app: status=${status ?? back.searchParams.get('error')}, connection_id=${id ?? '-'}`,
  );
  const conn = await i.api('GET', `/v1/connections/${i.connectionId}`);
  const tok = await i.api('GET', `/v1/connections/${i.connectionId}/token`);
  const ok = status === 'reconnected' && id === i.connectionId && conn.body?.status === 'active' && tok.status === 200;
  return {
    ok,
    detail: ok
      ? `${i.user} reconnected through the hosted flow: same id ${i.connectionId}, status active, version ${conn.body.version}, GET /token answers 200`
      : `status=${status}, connection_id=${id}, connection ${conn.body?.status}, GET /token ${tok.status}`,
  };
}
