// The app's side of the daemon's /v1 API: one method per route, typed answers, typed errors, and a
// token cache that takes repeat reads off the daemon.
import {
  ConflictError,
  InvalidRequestError,
  NeedsReauthError,
  NotFoundError,
  OAuthRefresherError,
  ProviderUnavailableError,
  UnauthorizedError,
} from './errors.ts';
import type {
  Connection,
  ConnectionPage,
  ConnectSession,
  ConnectSessionInput,
  CreateConnectionInput,
  CreatedConnection,
  CreatedConnectSession,
  DeletedConnection,
  ErrorBody,
  ListConnectionsQuery,
  RefreshOutcome,
  ReplaceTokensInput,
  TokenAnswer,
  TokenSetInput,
} from './types.ts';

export interface OAuthRefresherOptions {
  /** The daemon's base URL, e.g. http://127.0.0.1:3000 (without /v1). */
  baseUrl: string;
  /** An API key with the `token` scope (a read key can only read connections). */
  apiKey: string;
  /** A fetch implementation; the global one by default. */
  fetch?: typeof fetch;
  /** The clock, for tests. */
  now?: () => number;
}

export interface GetTokenOptions {
  /** The token must stay valid at least this long (seconds); the daemon refreshes it otherwise. Default 300. */
  minValidSeconds?: number;
}

/** A token as getToken returns it: `expiresAt` is null when the provider did not say. */
export interface AccessToken {
  accessToken: string;
  tokenType: string | null;
  expiresAt: Date | null;
}

type Conflict = 'reauth' | 'conflict';

const DEFAULT_MIN_VALID_SECONDS = 300;

export class OAuthRefresher {
  private readonly base: string;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  private readonly cache = new Map<string, AccessToken>();
  private readonly inFlight = new Map<string, Promise<AccessToken>>();

  constructor(private readonly opts: OAuthRefresherOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.now = opts.now ?? Date.now;
  }

  createConnection(input: CreateConnectionInput): Promise<CreatedConnection> {
    return this.call('POST', '/v1/connections', input, 'conflict');
  }

  getConnection(id: string): Promise<Connection> {
    return this.call('GET', `/v1/connections/${enc(id)}`);
  }

  /** One page; `next` is the cursor of the following page (null on the last). */
  listConnectionsPage(query: ListConnectionsQuery = {}): Promise<ConnectionPage> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    return this.call('GET', `/v1/connections${qs ? `?${qs}` : ''}`);
  }

  /** Every matching connection, fetching pages as the loop asks for them. */
  async *listConnections(query: ListConnectionsQuery = {}): AsyncGenerator<Connection, void, undefined> {
    let after = query.after;
    for (;;) {
      const page = await this.listConnectionsPage({ ...query, after });
      yield* page.connections;
      if (!page.next) return;
      after = page.next;
    }
  }

  /** A hosted connect (or, with connectionId, reconnect) link to send the user to. */
  createConnectSession(input: ConnectSessionInput): Promise<CreatedConnectSession> {
    return this.call('POST', '/v1/connect-sessions', input, 'conflict');
  }

  /** A reconnect link for an existing connection: it comes back active with the same id. */
  async reconnect(
    connectionId: string,
    input: { returnUrl: string; scopes?: string[]; metadata?: Record<string, unknown> },
  ): Promise<CreatedConnectSession> {
    const c = await this.getConnection(connectionId);
    return this.createConnectSession({ provider: c.provider, externalId: c.externalId, connectionId, ...input });
  }

  getConnectSession(id: string): Promise<ConnectSession> {
    return this.call('GET', `/v1/connect-sessions/${enc(id)}`);
  }

  /**
   * The new token set after the user re-authorized outside the hosted flow: the connection is active
   * again (same id); the cached token is dropped.
   */
  async replaceTokens(id: string, tokens: TokenSetInput, metadata?: Record<string, unknown>): Promise<Connection> {
    this.cache.delete(id);
    const body: ReplaceTokensInput = metadata === undefined ? { tokens } : { tokens, metadata };
    return this.call('PUT', `/v1/connections/${enc(id)}/tokens`, body, 'conflict');
  }

  /** Forces a refresh now; the cached token of the connection is dropped. */
  async refresh(id: string): Promise<RefreshOutcome> {
    this.cache.delete(id);
    return this.call('POST', `/v1/connections/${enc(id)}/refresh`, undefined, 'reauth');
  }

  /** Removes the connection; with revoke, its refresh token is revoked at the provider first. */
  async deleteConnection(id: string, opts: { revoke?: boolean } = {}): Promise<DeletedConnection> {
    this.cache.delete(id);
    const out = await this.call<DeletedConnection | undefined>(
      'DELETE',
      `/v1/connections/${enc(id)}${opts.revoke ? '?revoke=true' : ''}`,
    );
    return out ?? { id, deleted: true };
  }

  /**
   * An access token valid for at least minValidSeconds. Served from the cache while the cached
   * token has that long left; concurrent callers for one connection share one request. Throws
   * NeedsReauthError (409) or ProviderUnavailableError with retryAfterSeconds (503).
   */
  getToken(id: string, opts: GetTokenOptions = {}): Promise<AccessToken> {
    const minValidMs = (opts.minValidSeconds ?? DEFAULT_MIN_VALID_SECONDS) * 1000;
    const cached = this.cache.get(id);
    if (cached && this.freshFor(cached, minValidMs)) return Promise.resolve(cached);
    // Keyed by the requirement too: a caller that needs longer must not take a shorter-lived answer.
    const key = `${id}\u0000${minValidMs}`;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const p = this.fetchToken(id, minValidMs).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  /** Forgets cached tokens (one connection's, or all). */
  clearTokenCache(id?: string): void {
    if (id === undefined) this.cache.clear();
    else this.cache.delete(id);
  }

  private freshFor(t: AccessToken, minValidMs: number): boolean {
    return t.expiresAt !== null && t.expiresAt.getTime() - this.now() > minValidMs;
  }

  private async fetchToken(id: string, minValidMs: number): Promise<AccessToken> {
    try {
      const a = await this.call<TokenAnswer>(
        'GET',
        `/v1/connections/${enc(id)}/token?min_valid_seconds=${Math.ceil(minValidMs / 1000)}`,
        undefined,
        'reauth',
      );
      const t: AccessToken = {
        accessToken: a.access_token,
        tokenType: a.token_type,
        expiresAt: a.expires_at ? new Date(a.expires_at) : null,
      };
      // A token without a known expiry is never cached: only the daemon can tell when it is due.
      if (t.expiresAt) this.cache.set(id, t);
      else this.cache.delete(id);
      return t;
    } catch (e) {
      if (e instanceof NeedsReauthError || e instanceof NotFoundError) this.cache.delete(id);
      throw e;
    }
  }

  private async call<T>(method: string, path: string, body?: unknown, on409: Conflict = 'conflict'): Promise<T> {
    const res = await this.fetchFn(`${this.base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.opts.apiKey}`,
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.ok) return parsed as T;
    throw errorFor(res, parsed as ErrorBody | undefined, on409);
  }
}

function errorFor(res: Response, body: ErrorBody | undefined, on409: Conflict): OAuthRefresherError {
  switch (res.status) {
    case 400:
      return new InvalidRequestError(res.status, body);
    case 401:
    case 403:
      return new UnauthorizedError(
        res.status === 401 ? 'unauthorized: check the API key' : 'forbidden: this key cannot use this route',
        res.status,
        body,
      );
    case 404:
      return new NotFoundError(body?.message ?? 'not found', res.status, body);
    case 409:
      return on409 === 'reauth' && body?.status !== undefined
        ? new NeedsReauthError(res.status, body)
        : new ConflictError(res.status, body);
    case 503:
      return new ProviderUnavailableError(res.status, body, retryAfter(res.headers.get('retry-after')));
    default:
      return new OAuthRefresherError(`HTTP ${res.status}${body?.error ? ` ${body.error}` : ''}`, res.status, body);
  }
}

/** Retry-After as seconds: a number of seconds or an HTTP date (RFC 9110). */
function retryAfter(v: string | null): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

const enc = encodeURIComponent;
