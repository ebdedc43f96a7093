// A realistic fake OAuth 2.0 token endpoint for tests, the demo, the chaos suite and the benchmark.
//
// One FakeProvider = one HTTP server on 127.0.0.1 that behaves like ONE provider ("persona") as
// described in /work/shared/docs/providers.md: where the parameters go, how the client
// authenticates, what a success looks like, how rotation / reuse / grace work and what a dead
// token or bad client answer looks like. Faults (5xx, 429, delays, lost answers, garbage bodies)
// can be injected at any time. Every refresh token issued and every reuse is kept in a ledger.
//
// Only node:http and node:crypto. No side effects on import.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { FakeAuthorization, type AuthorizeOptions } from './authorize.ts';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export type Persona =
  | 'standard'
  | 'gong'
  | 'salesforce'
  | 'slack'
  | 'google'
  | 'microsoft'
  | 'hubspot'
  | 'github'
  | 'atlassian'
  | 'xero'
  | 'zoom'
  | 'notion'
  | 'shopify';

export const PERSONAS: readonly Persona[] = [
  'standard',
  'gong',
  'salesforce',
  'slack',
  'google',
  'microsoft',
  'hubspot',
  'github',
  'atlassian',
  'xero',
  'zoom',
  'notion',
  'shopify',
];

export type Rotation = 'always' | 'never' | 'optional-on' | 'optional-off';

export interface FakeProviderOptions {
  /** Default 'standard'. */
  persona?: Persona;
  /** Default 0 (ephemeral). The server binds 127.0.0.1 only. */
  port?: number;
  /** Default 'client-id'. */
  clientId?: string;
  /** Default 'client-secret'. */
  clientSecret?: string;
  /** Default per persona. 'optional-on' behaves like 'always', 'optional-off' like 'never'. */
  rotation?: Rotation;
  /** Default true: presenting a rotated-away refresh token (outside grace) revokes the whole grant. */
  reuseDetection?: boolean;
  /** Old refresh token still accepted for N s after it was first used. Default per persona (Xero 1800, Atlassian 600, else 0). */
  graceSeconds?: number;
  /** Access-token lifetime. Default per persona (3600 unless the provider documents otherwise: Slack 43200, GitHub 28800, HubSpot/Xero 1800, Google 3599). */
  accessTtlSeconds?: number;
  /** Clock used for grace windows, expiries and ledger timestamps (not for injected delays). Default Date.now. */
  now?: () => number;
  /** Serve the JSON admin API under /_admin/ on the same server. Default false. */
  admin?: boolean;
  /** The authorization endpoint (/authorize, /revoke): see authorize.ts. */
  authorize?: AuthorizeOptions;
}

export interface Faults {
  /** Answer every refresh with this HTTP status and a JSON error body; no rotation. */
  status?: number;
  /** Adds a Retry-After header (meant for status 429 / 503). */
  retryAfterSeconds?: number;
  /** Custom body for a `status` fault (object -> JSON, string -> sent as is with application/json). */
  body?: string | Record<string, unknown>;
  /** Wait before processing; if the client disconnected meanwhile, nothing is processed (no rotation). */
  delayMs?: number;
  /** Rotate first, then wait before answering (models an answer lost in flight). */
  delayAfterRotateMs?: number;
  /** 200 with truncated JSON; no rotation. */
  malformed?: boolean;
  /** An HTML page (text/html) with status `htmlStatus` (default 502); no rotation. */
  html?: boolean;
  htmlStatus?: number;
  /** 200 with access_token but no refresh_token; does NOT rotate (old refresh token stays current). */
  omitRefreshToken?: boolean;
  /** Answer as if the client secret were wrong (persona's credential-error form). */
  invalidClient?: boolean;
  /** HTTP 200 {"ok":false,"error":<value>} (Slack's error form), e.g. 'internal_error', 'ratelimited', 'fatal_error'. */
  slackError?: string;
  /** Apply the faults only to the next N token-endpoint requests, then clear automatically. */
  count?: number;
}

export interface IssuedGrant {
  grantId: string;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  /** The JSON a real provider returns at authorization time. */
  raw: Record<string, unknown>;
  /** Slack only: grant id of the user token in raw.authed_user (a separate grant). */
  userGrantId?: string;
}

export interface ProviderStats {
  /** Every request that reached the token endpoint (including faulted / rejected ones). */
  refreshRequests: number;
  successes: number;
  reuseEvents: number;
  revokedByReuse: number;
  /** Requests answered by an injected fault. */
  faulted: number;
  /** delayMs requests whose client went away before processing (nothing was done). */
  abortedBeforeProcessing: number;
  perGrant: Record<string, { refreshes: number; reuses: number }>;
}

export interface LedgerGrant {
  grantId: string;
  userId: string;
  kind: 'default' | 'bot' | 'user';
  status: 'active' | 'revoked';
  revokedBy?: 'user' | 'reuse';
  revokeReason?: string;
  current: string;
  /** Every refresh token issued for this grant, in order (the first one came from issueGrant). */
  issued: string[];
}

export interface Ledger {
  grants: LedgerGrant[];
  reuses: Array<{ grantId: string; token: string; at: number }>;
}

export interface AccessTokenInfo {
  active: boolean;
  grantId?: string;
  reason?: 'unknown' | 'expired' | 'revoked';
  expiresAt?: number;
}

// ---------------------------------------------------------------------------------------------
// Internal model
// ---------------------------------------------------------------------------------------------

interface GrantState {
  grantId: string;
  userId: string;
  kind: 'default' | 'bot' | 'user';
  status: 'active' | 'revoked';
  revokedBy?: 'user' | 'reuse';
  revokeReason?: string;
  current: string;
  /** Shopify: the previous refresh token, valid until `current` is used once. */
  previous?: string;
  issued: string[];
  scope: string;
  /** Persona metadata (instance_url, team, ...) merged with the caller's `extra`. */
  meta: Record<string, unknown>;
  accessSeq: number;
  refreshes: number;
  reuses: number;
}

interface RefreshTokenState {
  grantId: string;
  issuedAt: number;
  /** First time it stopped being the current token (used, or superseded). */
  rotatedAt?: number;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  contentType: string;
  body: string;
}

type FailKind = 'dead' | 'unknown_token' | 'bad_client_id' | 'bad_client_secret' | 'invalid_request' | 'unsupported_grant_type';

interface Failure {
  kind: FailKind;
  viaBasic?: boolean;
  grant?: GrantState;
  message?: string;
}

interface ReqCtx {
  /** Client asked for JSON (GitHub). */
  wantsJson: boolean;
}

type ParamSource = 'query' | 'form' | 'json';
type OldTokenPolicy = 'dies' | 'valid' | 'until-next-used';

interface PersonaSpec {
  tokenPath: string;
  matchPath: (p: string) => boolean;
  clientAuth: 'basic' | 'body' | 'either';
  params: ParamSource[];
  paramsHint: string;
  rotation: Rotation;
  oldToken: OldTokenPolicy;
  grace: number;
  ttl: number;
  /** When not rotating, send the same refresh token back (HubSpot does). */
  echoWhenNotRotating: boolean;
  scope: string;
}

const exact = (path: string) => (p: string) => p === path;

const SPECS: Record<Persona, PersonaSpec> = {
  standard: { tokenPath: '/oauth2/token', matchPath: exact('/oauth2/token'), clientAuth: 'either', params: ['form'], paramsHint: 'an application/x-www-form-urlencoded body', rotation: 'always', oldToken: 'dies', grace: 0, ttl: 3600, echoWhenNotRotating: false, scope: 'read write' },
  gong: { tokenPath: '/oauth2/generate-customer-token', matchPath: exact('/oauth2/generate-customer-token'), clientAuth: 'basic', params: ['query'], paramsHint: 'query string parameters (grant_type, refresh_token)', rotation: 'always', oldToken: 'dies', grace: 0, ttl: 3600, echoWhenNotRotating: false, scope: 'api:calls:read:basic api:users:read' },
  salesforce: { tokenPath: '/services/oauth2/token', matchPath: exact('/services/oauth2/token'), clientAuth: 'either', params: ['form'], paramsHint: 'an application/x-www-form-urlencoded body', rotation: 'optional-off', oldToken: 'dies', grace: 0, ttl: 7200, echoWhenNotRotating: false, scope: 'refresh_token api' },
  slack: { tokenPath: '/api/oauth.v2.access', matchPath: exact('/api/oauth.v2.access'), clientAuth: 'either', params: ['query', 'form'], paramsHint: 'form arguments', rotation: 'always', oldToken: 'dies', grace: 0, ttl: 43200, echoWhenNotRotating: false, scope: 'chat:write,channels:read' },
  google: { tokenPath: '/token', matchPath: exact('/token'), clientAuth: 'either', params: ['form', 'json'], paramsHint: 'an application/x-www-form-urlencoded body', rotation: 'never', oldToken: 'dies', grace: 0, ttl: 3599, echoWhenNotRotating: false, scope: 'https://www.googleapis.com/auth/drive.readonly openid' },
  microsoft: { tokenPath: '/common/oauth2/v2.0/token', matchPath: (p) => /^\/[^/]+\/oauth2\/v2\.0\/token$/.test(p), clientAuth: 'either', params: ['form'], paramsHint: 'an application/x-www-form-urlencoded body', rotation: 'always', oldToken: 'valid', grace: 0, ttl: 3600, echoWhenNotRotating: false, scope: 'offline_access User.Read Mail.Read' },
  hubspot: { tokenPath: '/oauth/v1/token', matchPath: exact('/oauth/v1/token'), clientAuth: 'body', params: ['form'], paramsHint: 'an application/x-www-form-urlencoded body', rotation: 'never', oldToken: 'dies', grace: 0, ttl: 1800, echoWhenNotRotating: true, scope: 'crm.objects.contacts.read oauth' },
  github: { tokenPath: '/login/oauth/access_token', matchPath: exact('/login/oauth/access_token'), clientAuth: 'either', params: ['query', 'form', 'json'], paramsHint: 'form or JSON parameters', rotation: 'always', oldToken: 'dies', grace: 0, ttl: 28800, echoWhenNotRotating: false, scope: '' },
  atlassian: { tokenPath: '/oauth/token', matchPath: exact('/oauth/token'), clientAuth: 'body', params: ['json'], paramsHint: 'an application/json body', rotation: 'always', oldToken: 'dies', grace: 600, ttl: 3600, echoWhenNotRotating: false, scope: 'read:jira-work offline_access' },
  xero: { tokenPath: '/connect/token', matchPath: exact('/connect/token'), clientAuth: 'basic', params: ['form'], paramsHint: 'an application/x-www-form-urlencoded body', rotation: 'always', oldToken: 'dies', grace: 1800, ttl: 1800, echoWhenNotRotating: false, scope: 'openid profile email accounting.transactions offline_access' },
  zoom: { tokenPath: '/oauth/token', matchPath: exact('/oauth/token'), clientAuth: 'basic', params: ['query', 'form'], paramsHint: 'query or form parameters', rotation: 'always', oldToken: 'dies', grace: 0, ttl: 3600, echoWhenNotRotating: false, scope: 'user:read meeting:read' },
  notion: { tokenPath: '/v1/oauth/token', matchPath: exact('/v1/oauth/token'), clientAuth: 'basic', params: ['json'], paramsHint: 'an application/json body', rotation: 'always', oldToken: 'dies', grace: 0, ttl: 3600, echoWhenNotRotating: false, scope: '' },
  shopify: { tokenPath: '/admin/oauth/access_token', matchPath: exact('/admin/oauth/access_token'), clientAuth: 'body', params: ['json', 'form'], paramsHint: 'an application/json body', rotation: 'always', oldToken: 'until-next-used', grace: 0, ttl: 3600, echoWhenNotRotating: false, scope: 'read_products,read_orders' },
};

/** Entra ID error descriptions for revokeGrant(id, '<AADSTS code>'). */
const AADSTS: Record<number, { text: string; error?: string; suberror?: string }> = {
  700082: { text: 'The refresh token has expired due to inactivity. The token was issued on 2026-01-01T00:00:00Z and was inactive for 90.00:00:00.' },
  70008: { text: 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.' },
  700084: { text: 'The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00, which can\'t be extended.' },
  50173: { text: 'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.' },
  50076: { text: 'Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access this resource.', suberror: 'basic_action' },
  50079: { text: 'Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access this resource.', suberror: 'basic_action' },
  65001: { text: 'The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource.', suberror: 'consent_required' },
  9002313: { text: 'Invalid request. Request is malformed or invalid.' },
  7000215: { text: 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.', error: 'invalid_client' },
  700016: { text: 'Application with identifier was not found in the directory. This can happen if the application has not been installed by the administrator of the tenant.', error: 'unauthorized_client' },
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const rand = (bytes: number): string => randomBytes(bytes).toString('base64url');
const randHex = (bytes: number): string => randomBytes(bytes).toString('hex');
const randDigits = (n: number): string => {
  let s = '';
  const b = randomBytes(n);
  for (let i = 0; i < n; i++) s += String(b[i]! % 10);
  return s;
};
const randAlnumUpper = (n: number): string => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const b = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += abc[b[i]! % abc.length];
  return s;
};

function json(status: number, obj: unknown, headers?: Record<string, string>): Reply {
  return { status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(obj), headers };
}

function formEncoded(status: number, obj: Record<string, unknown>): Reply {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined || v === null) continue;
    p.append(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  return { status, contentType: 'application/x-www-form-urlencoded; charset=utf-8', body: p.toString() };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function parseBasic(header: string | undefined): { id: string; secret: string; rawId: string; rawSecret: string } | undefined {
  const m = /^Basic\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const dec = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = dec.indexOf(':');
  const rawId = i < 0 ? dec : dec.slice(0, i);
  const rawSecret = i < 0 ? '' : dec.slice(i + 1);
  return { id: safeDecode(rawId), secret: safeDecode(rawSecret), rawId, rawSecret };
}

interface ParsedBody {
  type: 'none' | 'form' | 'json' | 'other' | 'invalid-json';
  data: Record<string, string>;
  rawObject?: unknown;
}

function parseBody(contentType: string | undefined, buf: Buffer): ParsedBody {
  const ct = (contentType ?? '').toLowerCase();
  const text = buf.toString('utf8');
  if (buf.length === 0) return { type: 'none', data: {} };
  if (ct.includes('application/json') || ct.includes('+json')) {
    try {
      const obj: unknown = JSON.parse(text);
      const data: Record<string, string> = {};
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
        for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
          if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') data[k] = String(v);
        }
      }
      return { type: 'json', data, rawObject: obj };
    } catch {
      return { type: 'invalid-json', data: {} };
    }
  }
  if (ct.includes('application/x-www-form-urlencoded')) {
    return { type: 'form', data: Object.fromEntries(new URLSearchParams(text)) };
  }
  return { type: 'other', data: {} };
}

function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const HTML_502 =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

function htmlPage(status: number): string {
  if (status === 502) return HTML_502;
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Sign in</title></head><body><h1>Service page (HTTP ${status})</h1><p>We're sorry, something went wrong. Please try again later.</p></body></html>\n`;
}

// ---------------------------------------------------------------------------------------------
// FakeProvider
// ---------------------------------------------------------------------------------------------

export class FakeProvider {
  readonly persona: Persona;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly rotation: Rotation;
  readonly reuseDetection: boolean;
  readonly graceSeconds: number;
  readonly accessTtlSeconds: number;
  readonly admin: boolean;
  /** Authorization endpoint (login/consent page, codes) and RFC 7009 revocation. */
  readonly authorization: FakeAuthorization;

  /** Called for every request that reaches the token endpoint, before any fault or processing. */
  onRequest?: (info: { grantId?: string; at: number }) => void;

  private readonly spec: PersonaSpec;
  private readonly now: () => number;
  private readonly requestedPort: number;
  private server?: Server;
  private port?: number;
  private readonly sleepers = new Map<NodeJS.Timeout, () => void>();
  private closed = false;

  private grantSeq = 0;
  private readonly grants = new Map<string, GrantState>();
  private readonly refreshTokens = new Map<string, RefreshTokenState>();
  private readonly accessTokens = new Map<string, { grantId: string; expiresAt: number }>();
  private readonly reuses: Array<{ grantId: string; token: string; at: number }> = [];
  private faults: Faults | undefined;
  private faultsRemaining: number | undefined;
  private counters = { refreshRequests: 0, successes: 0, reuseEvents: 0, revokedByReuse: 0, faulted: 0, abortedBeforeProcessing: 0 };

  constructor(opts: FakeProviderOptions = {}) {
    this.persona = opts.persona ?? 'standard';
    const spec = SPECS[this.persona];
    if (!spec) throw new Error(`unknown persona: ${String(opts.persona)}`);
    this.spec = spec;
    this.requestedPort = opts.port ?? 0;
    this.clientId = opts.clientId ?? 'client-id';
    this.clientSecret = opts.clientSecret ?? 'client-secret';
    this.rotation = opts.rotation ?? spec.rotation;
    this.reuseDetection = opts.reuseDetection ?? true;
    this.graceSeconds = opts.graceSeconds ?? spec.grace;
    this.accessTtlSeconds = opts.accessTtlSeconds ?? spec.ttl;
    this.now = opts.now ?? Date.now;
    this.admin = opts.admin ?? false;
    this.authorization = new FakeAuthorization(this, { now: this.now, ...opts.authorize });
  }

  // ----- lifecycle ---------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.server) return;
    this.closed = false;
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          this.send(res, json(500, { error: 'server_error', error_description: `fake provider bug: ${String(err)}` }));
        } else {
          res.destroy();
        }
      });
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.requestedPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.closed = true;
    for (const [t, wake] of this.sleepers) {
      clearTimeout(t);
      wake();
    }
    this.sleepers.clear();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  get url(): string {
    if (this.port === undefined) throw new Error('FakeProvider not started');
    return `http://127.0.0.1:${this.port}`;
  }

  get tokenUrl(): string {
    return `${this.url}${this.spec.tokenPath}`;
  }

  /** True when the effective rotation setting issues a new refresh token on each refresh. */
  get rotates(): boolean {
    return this.rotation === 'always' || this.rotation === 'optional-on';
  }

  // ----- grants ------------------------------------------------------------------------------

  /** Like an authorization-code exchange: creates a grant and returns what the provider would answer. */
  issueGrant(opts: { userId?: string; extra?: Record<string, unknown> } = {}): IssuedGrant {
    if (this.persona === 'slack') return this.issueSlackGrant(opts);
    const g = this.newGrant('default', opts.userId, opts.extra);
    const at = this.newAccessToken(g);
    const raw = this.buildAuthorizeAnswer(g, at);
    return { grantId: g.grantId, accessToken: at, refreshToken: g.current, expiresIn: this.accessTtlSeconds, raw };
  }

  private issueSlackGrant(opts: { userId?: string; extra?: Record<string, unknown> }): IssuedGrant {
    const bot = this.newGrant('bot', undefined, opts.extra);
    const user = this.newGrant('user', opts.userId ?? `U${randAlnumUpper(10)}`, undefined);
    // Both tokens belong to the same installation.
    user.meta = { ...bot.meta, ...user.meta };
    const botAt = this.newAccessToken(bot);
    const userAt = this.newAccessToken(user);
    const raw = this.buildAuthorizeAnswer(bot, botAt);
    raw.authed_user = {
      id: user.userId,
      scope: user.scope,
      access_token: userAt,
      token_type: 'user',
      refresh_token: user.current,
      expires_in: this.accessTtlSeconds,
    };
    return { grantId: bot.grantId, accessToken: botAt, refreshToken: bot.current, expiresIn: this.accessTtlSeconds, raw, userGrantId: user.grantId };
  }

  /** The user disconnected the app: every later refresh gets the persona's terminal answer.
   * `reason` shapes that answer for some personas: Salesforce (error_description, e.g.
   * 'authentication failure'), Microsoft (an AADSTS code such as '50076' or '70008'), Slack
   * (the ok:false error code, e.g. 'token_revoked'), Google ('invalid_rapt' -> error_subtype). */
  revokeGrant(grantId: string, reason?: string): void {
    const g = this.grants.get(grantId);
    if (!g) throw new Error(`unknown grant: ${grantId}`);
    if (g.status === 'revoked') return;
    g.status = 'revoked';
    g.revokedBy = 'user';
    g.revokeReason = reason;
  }

  currentRefreshToken(grantId: string): string | undefined {
    const g = this.grants.get(grantId);
    return g && g.status === 'active' ? g.current : undefined;
  }

  grantIdOf(refreshToken: string): string | undefined {
    return this.refreshTokens.get(refreshToken)?.grantId;
  }

  /** Whether an access token would be accepted by the provider's API right now. */
  checkAccessToken(accessToken: string): AccessTokenInfo {
    const a = this.accessTokens.get(accessToken);
    if (!a) return { active: false, reason: 'unknown' };
    const g = this.grants.get(a.grantId);
    if (!g || g.status === 'revoked') return { active: false, grantId: a.grantId, reason: 'revoked', expiresAt: a.expiresAt };
    if (this.now() >= a.expiresAt) return { active: false, grantId: a.grantId, reason: 'expired', expiresAt: a.expiresAt };
    return { active: true, grantId: a.grantId, expiresAt: a.expiresAt };
  }

  // ----- faults / observation ----------------------------------------------------------------

  setFaults(f: Faults): void {
    this.faults = { ...f };
    this.faultsRemaining = f.count;
    if (f.count !== undefined && f.count <= 0) this.clearFaults();
  }

  clearFaults(): void {
    this.faults = undefined;
    this.faultsRemaining = undefined;
  }

  /** Currently armed faults (undefined when none). */
  currentFaults(): Faults | undefined {
    return this.faults ? { ...this.faults, count: this.faultsRemaining } : undefined;
  }

  stats(): ProviderStats {
    const perGrant: Record<string, { refreshes: number; reuses: number }> = {};
    for (const g of this.grants.values()) perGrant[g.grantId] = { refreshes: g.refreshes, reuses: g.reuses };
    return { ...this.counters, perGrant };
  }

  ledger(): Ledger {
    return {
      grants: [...this.grants.values()].map((g) => ({
        grantId: g.grantId,
        userId: g.userId,
        kind: g.kind,
        status: g.status,
        ...(g.revokedBy ? { revokedBy: g.revokedBy } : {}),
        ...(g.revokeReason !== undefined ? { revokeReason: g.revokeReason } : {}),
        current: g.current,
        issued: [...g.issued],
      })),
      reuses: this.reuses.map((r) => ({ ...r })),
    };
  }

  // ----- internals: state --------------------------------------------------------------------

  private newGrant(kind: GrantState['kind'], userId: string | undefined, extra: Record<string, unknown> | undefined): GrantState {
    const grantId = `g${++this.grantSeq}-${randHex(3)}`;
    const token = this.newRefreshTokenValue();
    const g: GrantState = {
      grantId,
      userId: userId ?? `user-${this.grantSeq}`,
      kind,
      status: 'active',
      current: token,
      issued: [token],
      scope: kind === 'user' ? 'search:read,users:read' : this.spec.scope,
      meta: {},
      accessSeq: 0,
      refreshes: 0,
      reuses: 0,
    };
    g.meta = { ...this.personaMeta(g), ...(extra ?? {}) };
    this.grants.set(grantId, g);
    this.refreshTokens.set(token, { grantId, issuedAt: this.now() });
    return g;
  }

  private newRefreshTokenValue(): string {
    return `rt_${rand(30)}`; // 40 random base64url chars
  }

  private newAccessToken(g: GrantState): string {
    const at = `at_${g.grantId}_${++g.accessSeq}_${rand(12)}`;
    this.accessTokens.set(at, { grantId: g.grantId, expiresAt: this.now() + this.accessTtlSeconds * 1000 });
    return at;
  }

  private personaMeta(g: GrantState): Record<string, unknown> {
    switch (this.persona) {
      case 'gong':
        return { api_base_url_for_customer: `https://us-${randDigits(5)}.api.gong.io` };
      case 'salesforce': {
        const org = `00D${randAlnumUpper(15)}`;
        const user = `005${randAlnumUpper(15)}`;
        return { instance_url: `https://fake-${randHex(4)}.my.salesforce.com`, id: `https://login.salesforce.com/id/${org}/${user}` };
      }
      case 'slack':
        return g.kind === 'user'
          ? {}
          : { app_id: `A${randAlnumUpper(10)}`, bot_user_id: `U${randAlnumUpper(10)}`, team: { id: `T${randAlnumUpper(10)}`, name: 'Fake Team' } };
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
  private buildAnswer(g: GrantState, accessToken: string, refreshToken: string | undefined): Record<string, unknown> {
    const ttl = this.accessTtlSeconds;
    const m = g.meta;
    const rt = refreshToken === undefined ? {} : { refresh_token: refreshToken };
    switch (this.persona) {
      case 'gong':
        return { access_token: accessToken, ...rt, scope: g.scope, token_type: 'bearer', expires_in: ttl, api_base_url_for_customer: m.api_base_url_for_customer };
      case 'salesforce': {
        const issuedAt = String(this.now());
        const id = String(m.id);
        const signature = createHmac('sha256', this.clientSecret).update(id + issuedAt).digest('base64');
        return { access_token: accessToken, ...rt, signature, scope: g.scope, instance_url: m.instance_url, id, token_type: 'Bearer', issued_at: issuedAt };
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
        return { token_type: 'Bearer', scope: g.scope, expires_in: ttl, ext_expires_in: ttl, access_token: accessToken, ...rt };
      case 'hubspot':
        return { token_type: 'bearer', ...rt, access_token: accessToken, expires_in: ttl };
      case 'github':
        return { access_token: accessToken, expires_in: ttl, ...rt, ...(refreshToken !== undefined ? { refresh_token_expires_in: 15897600 } : {}), scope: g.scope, token_type: 'bearer' };
      case 'atlassian':
        return { access_token: accessToken, expires_in: ttl, token_type: 'Bearer', ...rt, scope: g.scope };
      case 'xero':
        return { access_token: accessToken, expires_in: ttl, token_type: 'Bearer', ...rt, scope: g.scope };
      case 'zoom':
        return { access_token: accessToken, token_type: 'bearer', ...rt, expires_in: ttl, scope: g.scope, api_url: m.api_url };
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
        return { access_token: accessToken, scope: g.scope, expires_in: ttl, ...rt, ...(refreshToken !== undefined ? { refresh_token_expires_in: 7776000 } : {}) };
      case 'standard':
      default:
        return { access_token: accessToken, token_type: 'Bearer', expires_in: ttl, ...rt, scope: g.scope };
    }
  }

  /** The authorization-time answer: the persona's answer plus any metadata / `extra` it lacks. */
  private buildAuthorizeAnswer(g: GrantState, accessToken: string): Record<string, unknown> {
    const out = this.buildAnswer(g, accessToken, g.current);
    for (const [k, v] of Object.entries(g.meta)) if (!(k in out)) out[k] = v;
    return out;
  }

  /** Applies one refresh. Synchronous, so concurrent requests are serialized like a real DB row lock. */
  private refresh(token: string, omitRefreshToken: boolean): { ok: true; grant: GrantState; accessToken: string; refreshToken?: string } | { ok: false; failure: Failure } {
    const ts = this.refreshTokens.get(token);
    if (!ts) return { ok: false, failure: { kind: 'unknown_token' } };
    const g = this.grants.get(ts.grantId)!;
    if (g.status === 'revoked') return { ok: false, failure: { kind: 'dead', grant: g } };
    const now = this.now();

    let accepted = false;
    if (token === g.current) accepted = true;
    else if (this.spec.oldToken === 'valid') accepted = true; // Microsoft: old refresh tokens are not revoked.
    else if (this.spec.oldToken === 'until-next-used' && token === g.previous) accepted = true; // Shopify
    else if (ts.rotatedAt !== undefined && this.graceSeconds > 0 && now - ts.rotatedAt < this.graceSeconds * 1000) accepted = true;

    if (!accepted) {
      // Reuse of a rotated-away refresh token.
      this.counters.reuseEvents++;
      g.reuses++;
      this.reuses.push({ grantId: g.grantId, token, at: now });
      if (this.reuseDetection) {
        g.status = 'revoked';
        g.revokedBy = 'reuse';
        this.counters.revokedByReuse++;
      }
      return { ok: false, failure: { kind: 'dead', grant: g } };
    }

    const accessToken = this.newAccessToken(g);
    g.refreshes++;
    this.counters.successes++;

    if (!this.rotates || omitRefreshToken) {
      const echo = this.rotates ? undefined : this.spec.echoWhenNotRotating ? g.current : undefined;
      return { ok: true, grant: g, accessToken, refreshToken: echo };
    }

    const next = this.newRefreshTokenValue();
    this.refreshTokens.set(next, { grantId: g.grantId, issuedAt: now });
    g.issued.push(next);
    if (ts.rotatedAt === undefined) ts.rotatedAt = now;
    const cur = this.refreshTokens.get(g.current)!;
    if (cur.rotatedAt === undefined) cur.rotatedAt = now; // superseded (grace / previous-token path)
    if (this.spec.oldToken === 'until-next-used' && token === g.current) g.previous = token;
    g.current = next;
    return { ok: true, grant: g, accessToken, refreshToken: next };
  }

  // ----- internals: HTTP ---------------------------------------------------------------------

  private send(res: ServerResponse, r: Reply): void {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(r.status, {
      'content-type': r.contentType,
      'cache-control': 'no-store',
      pragma: 'no-cache',
      ...(r.headers ?? {}),
    });
    res.end(r.body);
  }

  /** Resolves after ms, or at once when the server closes (callers then check `closed`). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.sleepers.delete(t);
        resolve();
      }, ms);
      this.sleepers.set(t, resolve);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let clientGone = false;
    res.on('close', () => {
      if (!res.writableFinished) clientGone = true;
    });
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;

    if (this.admin && path.startsWith('/_admin/')) {
      const body = await readBody(req);
      this.send(res, this.handleAdmin(req.method ?? 'GET', path, body));
      return;
    }
    if (path === '/api/me' && req.method === 'GET') {
      const m = /^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? '');
      const info = m ? this.checkAccessToken(m[1]!) : { active: false, reason: 'unknown' as const };
      const g = info.grantId ? this.grants.get(info.grantId) : undefined;
      this.send(res, info.active && g ? json(200, { grantId: g.grantId, userId: g.userId }) : json(401, { error: 'invalid_token', reason: info.reason }));
      return;
    }
    if (await this.authorization.handle(req, res, url)) return;
    if (!this.spec.matchPath(path)) {
      await readBody(req).catch(() => Buffer.alloc(0));
      this.send(res, json(404, { error: 'not_found', path }));
      return;
    }
    if (req.method !== 'POST') {
      this.send(res, { ...json(405, { error: 'method_not_allowed' }), headers: { allow: 'POST' } });
      return;
    }

    const bodyBuf = await readBody(req);
    const body = parseBody(req.headers['content-type'], bodyBuf);
    const ctx: ReqCtx = { wantsJson: /application\/json/i.test(String(req.headers.accept ?? '')) };

    // Gather parameters from the places this persona reads.
    const params: Record<string, string> = {};
    if (this.spec.params.includes('query')) for (const [k, v] of url.searchParams) params[k] = v;
    if ((body.type === 'form' && this.spec.params.includes('form')) || (body.type === 'json' && this.spec.params.includes('json'))) {
      Object.assign(params, body.data);
    }

    this.counters.refreshRequests++;
    const at = this.now();
    const presented = params.refresh_token ?? body.data.refresh_token;
    try {
      this.onRequest?.({ grantId: presented ? this.grantIdOf(presented) : undefined, at });
    } catch {
      /* observer errors never break the endpoint */
    }

    // Take a snapshot of the faults for this request and consume one from `count`.
    const f = this.faults ? { ...this.faults } : undefined;
    if (f && this.faultsRemaining !== undefined) {
      this.faultsRemaining--;
      if (this.faultsRemaining <= 0) this.clearFaults();
    }

    if (f?.delayMs) {
      await this.sleep(f.delayMs);
      if (this.closed) return;
      if (clientGone || req.socket.destroyed) {
        // The request never "reached the app": nothing rotates.
        this.counters.abortedBeforeProcessing++;
        return;
      }
    }

    const faultReply = f ? this.faultReply(f, ctx) : undefined;
    if (faultReply) {
      this.counters.faulted++;
      this.send(res, faultReply);
      return;
    }

    const reply = this.processRefresh(req, params, body, ctx, f?.omitRefreshToken ?? false);
    if (f?.delayAfterRotateMs) {
      await this.sleep(f.delayAfterRotateMs);
    }
    this.send(res, reply);
  }

  private faultReply(f: Faults, ctx: ReqCtx): Reply | undefined {
    const retry = f.retryAfterSeconds !== undefined ? { 'retry-after': String(f.retryAfterSeconds) } : undefined;
    if (f.status !== undefined) {
      if (typeof f.body === 'string') return { status: f.status, contentType: 'application/json; charset=utf-8', body: f.body, headers: retry };
      if (f.body) return json(f.status, f.body, retry);
      let obj: Record<string, unknown>;
      if (this.persona === 'slack') obj = { ok: false, error: f.status === 429 ? 'ratelimited' : 'internal_error' };
      else {
        const error = f.status === 429 ? 'rate_limit_exceeded' : f.status === 503 ? 'temporarily_unavailable' : f.status >= 500 ? 'server_error' : 'invalid_request';
        obj = { error, error_description: `Injected fault: HTTP ${f.status}` };
      }
      return json(f.status, obj, retry);
    }
    if (f.slackError !== undefined) return json(200, { ok: false, error: f.slackError }, retry);
    if (f.html) {
      const status = f.htmlStatus ?? 502;
      return { status, contentType: 'text/html; charset=utf-8', body: htmlPage(status), headers: retry };
    }
    if (f.malformed) {
      const full = JSON.stringify({ access_token: `at_${rand(12)}`, token_type: 'Bearer', expires_in: this.accessTtlSeconds, refresh_token: `rt_${rand(30)}` });
      return { status: 200, contentType: 'application/json; charset=utf-8', body: full.slice(0, Math.floor(full.length / 2)) };
    }
    if (f.invalidClient) return this.renderFailure({ kind: 'bad_client_secret', viaBasic: this.spec.clientAuth === 'basic' }, ctx);
    return undefined;
  }

  private processRefresh(req: IncomingMessage, params: Record<string, string>, body: ParsedBody, ctx: ReqCtx, omitRefreshToken: boolean): Reply {
    if (body.type === 'invalid-json') return this.renderFailure({ kind: 'invalid_request', message: 'Request body is not valid JSON.' }, ctx);
    if (this.spec.params.length === 1 && this.spec.params[0] === 'json' && body.type !== 'json') {
      return this.renderFailure({ kind: 'invalid_request', message: 'Content-Type must be application/json.' }, ctx);
    }
    const grantType = params.grant_type;
    if (!grantType || (this.persona === 'gong' && !params.refresh_token && grantType !== 'authorization_code')) {
      const inBody = body.data.grant_type !== undefined || body.data.refresh_token !== undefined;
      const msg =
        this.persona === 'gong' && inBody
          ? 'grant_type and refresh_token must be sent as query string parameters, not in the request body.'
          : `Missing grant_type; expected ${this.spec.paramsHint}.`;
      return this.renderFailure({ kind: 'invalid_request', message: msg }, ctx);
    }
    if (grantType !== 'refresh_token' && grantType !== 'authorization_code') return this.renderFailure({ kind: 'unsupported_grant_type', message: grantType }, ctx);

    // Client authentication.
    const basic = parseBasic(req.headers.authorization);
    let via: 'basic' | 'body';
    let id: string | undefined;
    let secret: string | undefined;
    let rawId: string | undefined;
    let rawSecret: string | undefined;
    if (this.spec.clientAuth === 'basic' || (this.spec.clientAuth === 'either' && basic)) {
      via = 'basic';
      id = basic?.id;
      secret = basic?.secret;
      rawId = basic?.rawId;
      rawSecret = basic?.rawSecret;
    } else {
      via = 'body';
      id = rawId = params.client_id;
      secret = rawSecret = params.client_secret;
    }
    const viaBasic = via === 'basic' && basic !== undefined;
    if (id !== this.clientId && rawId !== this.clientId) return this.renderFailure({ kind: 'bad_client_id', viaBasic }, ctx);
    if (secret !== this.clientSecret && rawSecret !== this.clientSecret) return this.renderFailure({ kind: 'bad_client_secret', viaBasic }, ctx);

    if (grantType === 'authorization_code') return this.exchangeCode(params, ctx, omitRefreshToken);
    const token = params.refresh_token;
    if (!token) return this.renderFailure({ kind: 'invalid_request', message: 'Missing refresh_token.' }, ctx);

    const r = this.refresh(token, omitRefreshToken);
    if (!r.ok) return this.renderFailure(r.failure, ctx);
    const answer = this.buildAnswer(r.grant, r.accessToken, r.refreshToken);
    if (this.persona === 'github' && !ctx.wantsJson) return formEncoded(200, answer);
    return json(200, answer);
  }

  private exchangeCode(params: Record<string, string>, ctx: ReqCtx, omitRefreshToken: boolean): Reply {
    const r = this.authorization.exchange(params);
    if (!r.ok) {
      const f = FakeAuthorization.failureBody(this.persona, r.description);
      return this.persona === 'github' && !ctx.wantsJson ? formEncoded(f.status, f.body) : json(f.status, f.body);
    }
    if (omitRefreshToken) delete r.raw.refresh_token;
    return this.persona === 'github' && !ctx.wantsJson ? formEncoded(200, r.raw) : json(200, r.raw);
  }

  /** The persona's error answer for a failure. */
  private renderFailure(f: Failure, ctx: ReqCtx): Reply {
    const reason = f.grant?.revokeReason;
    const isClient = f.kind === 'bad_client_id' || f.kind === 'bad_client_secret';
    const isDead = f.kind === 'dead' || f.kind === 'unknown_token';
    const rfcClient = (desc: string) =>
      f.viaBasic ? json(401, { error: 'invalid_client', error_description: desc }, { 'www-authenticate': 'Basic realm="fake-provider"' }) : json(400, { error: 'invalid_client', error_description: desc });
    const rfcOther = () =>
      f.kind === 'unsupported_grant_type'
        ? json(400, { error: 'unsupported_grant_type', error_description: `Unsupported grant type: ${f.message ?? ''}` })
        : json(400, { error: 'invalid_request', error_description: f.message ?? 'Invalid request.' });

    switch (this.persona) {
      case 'gong':
        if (isDead) return json(400, { error: 'invalid_grant', error_description: f.kind === 'unknown_token' ? 'Refresh token code is invalid' : 'Token has been expired or revoked.' });
        if (isClient) return json(401, { error: 'invalid_client', error_description: 'Client authentication failed' });
        return rfcOther();

      case 'salesforce':
        if (isDead) return json(400, { error: 'invalid_grant', error_description: reason ?? 'expired access/refresh token' });
        if (f.kind === 'bad_client_id') return json(400, { error: 'invalid_client_id', error_description: 'client identifier invalid' });
        if (f.kind === 'bad_client_secret') return json(400, { error: 'invalid_client', error_description: 'invalid client credentials' });
        if (f.kind === 'unsupported_grant_type') return json(400, { error: 'unsupported_grant_type', error_description: 'grant type not supported' });
        return json(400, { error: 'invalid_request', error_description: f.message ?? 'invalid request' });

      case 'slack': {
        const err = isDead
          ? (reason ?? 'invalid_refresh_token')
          : f.kind === 'bad_client_id'
            ? 'invalid_client_id'
            : f.kind === 'bad_client_secret'
              ? 'bad_client_secret'
              : f.kind === 'unsupported_grant_type'
                ? 'invalid_grant_type'
                : 'invalid_arguments';
        return json(200, { ok: false, error: err });
      }

      case 'google':
        if (isDead) {
          if (reason === 'invalid_rapt') return json(400, { error: 'invalid_grant', error_description: 'reauth related error (invalid_rapt)', error_uri: 'https://support.google.com/a/answer/9368756', error_subtype: 'invalid_rapt' });
          return json(400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
        }
        if (f.kind === 'bad_client_id') return json(401, { error: 'invalid_client', error_description: 'The OAuth client was not found.' });
        if (f.kind === 'bad_client_secret') return json(401, { error: 'invalid_client', error_description: 'Unauthorized' });
        return rfcOther();

      case 'microsoft': {
        const aad = (code: number, status: number, fallbackError: string) => {
          const e = AADSTS[code];
          const now = new Date(this.now()).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
          return json(status, {
            error: e?.error ?? fallbackError,
            error_description: `AADSTS${code}: ${e?.text ?? 'Error.'} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${now}`,
            error_codes: [code],
            timestamp: now,
            trace_id: randomUUID(),
            correlation_id: randomUUID(),
            error_uri: `https://login.microsoftonline.com/error?code=${code}`,
            ...(e?.suberror ? { suberror: e.suberror } : {}),
          });
        };
        if (f.kind === 'unknown_token') return aad(9002313, 400, 'invalid_grant');
        if (f.kind === 'dead') {
          const m = reason ? /(\d+)/.exec(reason) : null;
          const code = m ? Number(m[1]) : 700082;
          return aad(code, 400, 'invalid_grant');
        }
        if (f.kind === 'bad_client_id') return aad(700016, 400, 'unauthorized_client');
        if (f.kind === 'bad_client_secret') return aad(7000215, 401, 'invalid_client');
        if (f.kind === 'unsupported_grant_type') return json(400, { error: 'unsupported_grant_type', error_description: 'AADSTS70003: The app requested an unsupported grant type.', error_codes: [70003] });
        return json(400, { error: 'invalid_request', error_description: `AADSTS900144: ${f.message ?? 'The request body must contain the following parameter.'}`, error_codes: [900144] });
      }

      case 'hubspot': {
        const correlationId = randomUUID();
        if (isDead || f.kind === 'invalid_request') return json(400, { status: 'BAD_REFRESH_TOKEN', message: 'missing or invalid refresh token', correlationId });
        // [M] HubSpot's client-error shapes are second-hand; status/message/correlationId is its error form.
        if (f.kind === 'bad_client_id') return json(400, { status: 'BAD_CLIENT_ID', message: 'missing or unknown client id', correlationId });
        if (f.kind === 'bad_client_secret') return json(400, { status: 'BAD_CLIENT_SECRET', message: 'missing or invalid client secret', correlationId });
        return json(400, { status: 'BAD_GRANT_TYPE', message: 'grant_type must be one of: authorization_code, refresh_token', correlationId });
      }

      case 'github': {
        const obj = isDead
          ? { error: 'bad_refresh_token', error_description: 'The refresh token passed is incorrect or expired.', error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors#bad-refresh-token' }
          : isClient
            ? { error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.', error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors#incorrect-client-credentials' }
            : f.kind === 'unsupported_grant_type'
              ? { error: 'unsupported_grant_type', error_description: 'The grant type is not supported.' }
              : { error: 'invalid_request', error_description: f.message ?? 'Invalid request.' };
        return ctx.wantsJson ? json(200, obj) : formEncoded(200, obj);
      }

      case 'atlassian':
        if (isDead) return json(403, { error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' });
        if (isClient) return json(401, { error: 'invalid_client', error_description: 'Unauthorized' });
        return rfcOther();

      case 'xero':
        if (isDead) return json(400, { error: 'invalid_grant' });
        if (isClient) return json(400, { error: 'invalid_client' });
        return f.kind === 'unsupported_grant_type' ? json(400, { error: 'unsupported_grant_type' }) : json(400, { error: 'invalid_request' });

      case 'zoom':
        if (isDead) return json(400, { reason: 'Invalid Token!', error: 'invalid_request' });
        if (isClient) return json(401, { reason: 'Invalid client_id or client_secret', error: 'invalid_client' });
        if (f.kind === 'unsupported_grant_type') return json(400, { reason: 'Unsupported grant type', error: 'unsupported_grant_type' });
        return json(400, { reason: f.message ?? 'Invalid request', error: 'invalid_request' });

      case 'notion':
        if (isDead) return json(400, { error: 'invalid_grant', error_description: 'Invalid refresh token.', request_id: randomUUID() });
        if (isClient) return json(401, { error: 'invalid_client', error_description: 'Invalid client credentials.', request_id: randomUUID() });
        return f.kind === 'unsupported_grant_type'
          ? json(400, { error: 'unsupported_grant_type', error_description: 'Unsupported grant type.', request_id: randomUUID() })
          : json(400, { error: 'invalid_request', error_description: f.message ?? 'Invalid request.', request_id: randomUUID() });

      case 'shopify':
        if (isDead) return json(400, { error: 'invalid_grant', error_description: 'The refresh token is invalid, expired or revoked.' });
        if (isClient) return json(400, { error: 'invalid_client', error_description: 'Client credentials are invalid.' });
        return rfcOther();

      case 'standard':
      default:
        if (isDead) return json(400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
        if (isClient) return rfcClient('Client authentication failed.');
        return rfcOther();
    }
  }

  // ----- admin API ---------------------------------------------------------------------------

  private handleAdmin(method: string, path: string, bodyBuf: Buffer): Reply {
    let body: Record<string, unknown> = {};
    if (bodyBuf.length > 0) {
      try {
        const parsed: unknown = JSON.parse(bodyBuf.toString('utf8'));
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
        else return json(400, { error: 'body must be a JSON object' });
      } catch {
        return json(400, { error: 'invalid JSON' });
      }
    }
    const parts = path.split('/').filter(Boolean).map(safeDecode); // ['_admin', ...]
    const route = `${method} /${parts.slice(1).join('/')}`;
    try {
      if (route === 'POST /grants') {
        const userId = typeof body.userId === 'string' ? body.userId : undefined;
        const extra = body.extra && typeof body.extra === 'object' ? (body.extra as Record<string, unknown>) : undefined;
        return json(200, this.issueGrant({ userId, extra }));
      }
      if (method === 'POST' && parts.length === 4 && parts[1] === 'grants' && parts[3] === 'revoke') {
        const id = parts[2]!;
        if (!this.grants.has(id)) return json(404, { error: 'unknown grant', grantId: id });
        this.revokeGrant(id, typeof body.reason === 'string' ? body.reason : undefined);
        return json(200, { ok: true });
      }
      if (method === 'GET' && parts.length === 3 && parts[1] === 'grants') {
        const g = this.ledger().grants.find((x) => x.grantId === parts[2]);
        return g ? json(200, g) : json(404, { error: 'unknown grant', grantId: parts[2] });
      }
      if (route === 'POST /faults') {
        this.setFaults(body as Faults);
        return json(200, { ok: true, faults: this.currentFaults() ?? null });
      }
      if (route === 'DELETE /faults') {
        this.clearFaults();
        return json(200, { ok: true });
      }
      if (route === 'GET /faults') return json(200, { faults: this.currentFaults() ?? null });
      if (route === 'GET /ledger') return json(200, this.ledger());
      if (route === 'GET /stats') return json(200, this.stats());
      if (route === 'GET /info') {
        return json(200, {
          persona: this.persona,
          url: this.url,
          tokenUrl: this.tokenUrl,
          rotation: this.rotation,
          reuseDetection: this.reuseDetection,
          graceSeconds: this.graceSeconds,
          accessTtlSeconds: this.accessTtlSeconds,
          clientId: this.clientId,
        });
      }
      return json(404, { error: 'unknown admin route', route });
    } catch (err) {
      return json(400, { error: String(err instanceof Error ? err.message : err) });
    }
  }
}
