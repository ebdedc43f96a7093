// The fake provider's authorization server (RFC 6749 4.1, RFC 7636, RFC 9207, RFC 7009):
//   GET  /authorize           a login/consent page (user name, Allow / Deny)
//   POST /authorize/decision  302 back to redirect_uri with code+state (or error=access_denied)
//   POST /revoke              RFC 7009 revocation of a refresh (or access) token
// Codes are single-use (a replay also revokes the grant the first use created), live 60 s, and are
// bound to client_id, redirect_uri and the PKCE challenge. The exchange itself runs at the
// persona's token endpoint (grant_type=authorization_code) and issues a new grant with its refresh token.
// Only node:http and node:crypto.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';

export interface AuthorizeHost {
  readonly persona: string;
  readonly clientId: string;
  readonly url: string;
  issueGrant(opts: { userId?: string }): { grantId: string; raw: Record<string, unknown> };
  revokeGrant(grantId: string, reason?: string): void;
  grantIdOf(refreshToken: string): string | undefined;
}

export interface AuthorizeOptions {
  /** Sent as iss on every authorization response (RFC 9207) when set. */
  issuer?: string;
  /** Refuse authorization requests without an S256 code_challenge. Default true. */
  requirePkce?: boolean;
  /** Only these redirect URIs are registered (others get an error page, no redirect). Default: any. */
  redirectUris?: string[];
  codeTtlMs?: number;
  now?: () => number;
}

interface PendingRequest {
  clientId: string;
  redirectUri: string;
  state?: string;
  scope?: string;
  challenge?: string;
}

interface CodeState extends PendingRequest {
  userId: string;
  expiresAt: number;
  used: boolean;
  grantId?: string;
}

export type ExchangeOutcome =
  { ok: true; raw: Record<string, unknown>; grantId: string } | { ok: false; description: string };

export interface AuthorizeLogEntry {
  query: Record<string, string>;
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function html(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(
    `<!doctype html><html><head><meta charset="utf-8"><title>Fake provider</title></head><body>${body}</body></html>`,
  );
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { location, 'cache-control': 'no-store' });
  res.end();
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export class FakeAuthorization {
  /** Every authorization request seen (query parameters), for assertions. */
  readonly requests: AuthorizeLogEntry[] = [];
  /** Every RFC 7009 revocation seen. */
  readonly revocations: { token: string; hint?: string; grantId?: string }[] = [];
  /** Every code exchange attempt and how it went. */
  readonly exchanges: { ok: boolean; description?: string }[] = [];
  options: AuthorizeOptions;
  private readonly pending = new Map<string, PendingRequest>();
  private readonly codes = new Map<string, CodeState>();

  constructor(
    private readonly host: AuthorizeHost,
    opts: AuthorizeOptions = {},
  ) {
    this.options = { ...opts };
  }

  private get now(): number {
    return (this.options.now ?? Date.now)();
  }

  get authorizeUrl(): string {
    return `${this.host.url}/authorize`;
  }

  get revocationUrl(): string {
    return `${this.host.url}/revoke`;
  }

  /** Handles the authorization routes; false when the path is not one of them. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (url.pathname === '/authorize' && req.method === 'GET') {
      this.authorizePage(res, url);
      return true;
    }
    if (url.pathname === '/authorize/decision' && req.method === 'POST') {
      this.decide(res, await readForm(req));
      return true;
    }
    if (url.pathname === '/revoke' && req.method === 'POST') {
      const form = await readForm(req);
      const token = form.get('token') ?? '';
      const grantId = this.host.grantIdOf(token);
      this.revocations.push({ token, hint: form.get('token_type_hint') ?? undefined, grantId });
      if (grantId) this.host.revokeGrant(grantId, 'revoked via RFC 7009');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return true;
    }
    return false;
  }

  private back(p: PendingRequest, params: Record<string, string>): string {
    const u = new URL(p.redirectUri);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    if (p.state !== undefined) u.searchParams.set('state', p.state);
    if (this.options.issuer) u.searchParams.set('iss', this.options.issuer);
    return u.toString();
  }

  private authorizePage(res: ServerResponse, url: URL): void {
    const q = Object.fromEntries(url.searchParams);
    this.requests.push({ query: q });
    // Errors about the client or the redirect URI are shown, never redirected (RFC 6749 4.1.2.1).
    if (q.client_id !== this.host.clientId)
      return html(res, 400, '<h1>Unknown client</h1><p>client_id is not registered.</p>');
    let ok: boolean;
    try {
      ok = ['http:', 'https:'].includes(new URL(q.redirect_uri ?? '').protocol);
    } catch {
      ok = false;
    }
    if (!ok || (this.options.redirectUris && !this.options.redirectUris.includes(q.redirect_uri))) {
      return html(res, 400, '<h1>Invalid redirect URI</h1><p>redirect_uri does not match the app registration.</p>');
    }
    const p: PendingRequest = {
      clientId: q.client_id,
      redirectUri: q.redirect_uri,
      state: q.state,
      scope: q.scope,
      challenge: q.code_challenge,
    };
    if (q.response_type !== 'code') return redirect(res, this.back(p, { error: 'unsupported_response_type' }));
    if (q.code_challenge !== undefined && q.code_challenge_method !== 'S256')
      return redirect(
        res,
        this.back(p, { error: 'invalid_request', error_description: 'code_challenge_method must be S256' }),
      );
    if ((this.options.requirePkce ?? true) && !q.code_challenge)
      return redirect(
        res,
        this.back(p, { error: 'invalid_request', error_description: 'PKCE (code_challenge) is required' }),
      );
    const requestId = randomBytes(16).toString('base64url');
    this.pending.set(requestId, p);
    html(
      res,
      200,
      `<h1>Fake provider: sign in</h1>
<p>An app asks for access to your account (scopes: <span id="scope">${esc(q.scope ?? '')}</span>).</p>
<form method="post" action="/authorize/decision">
  <input type="hidden" name="request" value="${requestId}">
  <label>User <input id="user" name="user" value="user-1"></label>
  <button id="allow" name="decision" value="allow" type="submit">Allow</button>
  <button id="deny" name="decision" value="deny" type="submit">Deny</button>
</form>`,
    );
  }

  private decide(res: ServerResponse, form: URLSearchParams): void {
    const id = form.get('request') ?? '';
    const p = this.pending.get(id);
    if (!p) return html(res, 400, '<h1>This request expired</h1>');
    this.pending.delete(id);
    if (form.get('decision') !== 'allow')
      return redirect(
        res,
        this.back(p, { error: 'access_denied', error_description: 'The user denied access to the app.' }),
      );
    const code = `code_${randomBytes(24).toString('base64url')}`;
    this.codes.set(code, {
      ...p,
      userId: form.get('user') || 'user-1',
      expiresAt: this.now + (this.options.codeTtlMs ?? 60_000),
      used: false,
    });
    redirect(res, this.back(p, { code }));
  }

  /** The token endpoint's authorization_code grant (client already authenticated by the caller). */
  exchange(params: Record<string, string>): ExchangeOutcome {
    const r = this.check(params);
    this.exchanges.push(r.ok ? { ok: true } : { ok: false, description: r.description });
    return r;
  }

  private check(params: Record<string, string>): ExchangeOutcome {
    const c = this.codes.get(params.code ?? '');
    if (!c) return { ok: false, description: 'Unknown authorization code.' };
    if (c.used) {
      // RFC 6749 4.1.2: a replayed code revokes what the first use issued.
      if (c.grantId) this.host.revokeGrant(c.grantId, 'authorization code replayed');
      return { ok: false, description: 'Authorization code already used.' };
    }
    c.used = true;
    if (this.now > c.expiresAt) return { ok: false, description: 'Authorization code expired.' };
    if (params.client_id !== undefined && params.client_id !== c.clientId)
      return { ok: false, description: 'Code was issued to another client.' };
    if (params.redirect_uri !== c.redirectUri)
      return { ok: false, description: 'redirect_uri does not match the authorization request.' };
    if (c.challenge) {
      const v = params.code_verifier ?? '';
      if (createHash('sha256').update(v, 'ascii').digest('base64url') !== c.challenge)
        return { ok: false, description: 'PKCE verification failed (code_verifier).' };
    } else if (params.code_verifier !== undefined) {
      return { ok: false, description: 'code_verifier sent but no code_challenge was (PKCE downgrade).' };
    }
    const g = this.host.issueGrant({ userId: c.userId });
    c.grantId = g.grantId;
    return { ok: true, raw: { ...g.raw }, grantId: g.grantId };
  }

  /** The persona's answer for a refused code (Slack ok:false, GitHub 200, else RFC 6749 invalid_grant). */
  static failureBody(persona: string, description: string): { status: number; body: Record<string, unknown> } {
    if (persona === 'slack') return { status: 200, body: { ok: false, error: 'invalid_code' } };
    if (persona === 'github')
      return { status: 200, body: { error: 'bad_verification_code', error_description: description } };
    return { status: 400, body: { error: 'invalid_grant', error_description: description } };
  }
}
