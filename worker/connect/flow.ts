// The hosted connect / reconnect flow: session creation, the connect link, the callback. Policy lives
// in the pure modules beside this one; this file sequences them over the stores and the HTTP client.
import type { Logger } from 'pino';
import type { Keyring } from '../crypto/keyring.ts';
import type { Connection } from '../generated/prisma/client.ts';
import { validateTokens } from '../validation/validate.ts';
import type { HttpClient } from '../oauth/http.ts';
import type { ProviderRegistry, ResolvedProvider } from '../providers/registry.ts';
import type { ProviderGate, TokenSetInput } from '../interfaces.ts';
import type { Scheduler } from '../schedule/scheduler.ts';
import type { ConnectSession, ConnectSessions } from '../store/connect-sessions.ts';
import type { Db } from '../store/db.ts';
import { enqueueEvent } from '../store/outbox.ts';
import type { Registration } from '../store/registration.ts';
import { scrubSecrets } from '../log/scrub.ts';
import { buildAuthorizeUrl } from './authorize-url.ts';
import { bindingCookie, clearedBindingCookie, readBindingCookie } from './cookie.ts';
import { buildCodeExchange, classifyExchange, type ExchangeResult } from './exchange.ts';
import { refusalPage } from './pages.ts';
import { returnWith } from './return-url.ts';
import { challengeS256, hashToken, looksLikeToken, randomToken } from './secrets.ts';

export interface ConnectConfig {
  publicUrl: string;
  returnUrls: string[];
  sessionTtlMs: number;
  requestTimeoutMs: number;
}

export interface ConnectDeps {
  db: Db;
  sessions: ConnectSessions;
  providers: ProviderRegistry;
  registration: Registration;
  scheduler: Scheduler;
  keyring: Keyring;
  http: HttpClient;
  gate: ProviderGate;
  log: Logger;
  now?: () => number;
}

/** What a browser route answers: a redirect (maybe setting a cookie) or a page. */
export type BrowserAnswer =
  | { kind: 'redirect'; location: string; cookie?: string }
  | { kind: 'page'; status: number; title: string; html: string; cookie?: string };

const NO_ID = '00000000-0000-0000-0000-000000000000';

export class ConnectFlow {
  private readonly now: () => number;

  constructor(
    private readonly d: ConnectDeps,
    readonly config: ConnectConfig,
  ) {
    this.now = d.now ?? Date.now;
  }

  get redirectUri(): string {
    return `${this.config.publicUrl}/oauth/callback`;
  }

  private get secure(): boolean {
    return this.config.publicUrl.startsWith('https:');
  }

  private refused(why: Parameters<typeof refusalPage>[0], status: number, provider?: ResolvedProvider): BrowserAnswer {
    const p = refusalPage(why, provider?.displayName);
    return { kind: 'page', status, ...p };
  }

  private sessionMetadata(s: ConnectSession, conn: Pick<Connection, 'metadata'> | null): Record<string, unknown> {
    return {
      ...((conn?.metadata as Record<string, unknown> | null) ?? {}),
      ...(s.metadata as Record<string, unknown>),
    };
  }

  // ----- GET /connect/<token> ------------------------------------------------------------------

  async start(token: string): Promise<BrowserAnswer> {
    if (!looksLikeToken(token)) return this.refused('unknown', 404);
    const s = await this.d.sessions.byTokenHash(hashToken(token));
    if (!s) return this.refused('unknown', 404);
    const provider = this.d.providers.get(s.provider);
    const nowMs = this.now();
    if (s.status !== 'pending' || s.stateConsumedAt) return this.refused('used', 410, provider);
    if (s.expiresAt.getTime() <= nowMs) return this.refused('expired', 410, provider);
    if (!provider?.authorizeUrl) return this.refused('bad_request', 409, provider);
    const state = randomToken();
    const binding = randomToken();
    const verifier = provider.pkce === 'none' ? undefined : randomToken();
    const conn = s.connectionId
      ? await this.d.db.connection.findUnique({ where: { id: s.connectionId }, select: { metadata: true } })
      : null;
    const built = buildAuthorizeUrl(provider, {
      redirectUri: this.redirectUri,
      state,
      codeChallenge: verifier ? challengeS256(verifier) : undefined,
      scopes: s.scopes as string[],
      metadata: this.sessionMetadata(s, conn),
    });
    if (!built.ok) return this.refused('bad_request', 409, provider);
    const begun = await this.d.sessions.begin(
      s.id,
      {
        stateHash: hashToken(state),
        bindingHash: hashToken(binding),
        codeVerifierEnc: verifier ? this.d.keyring.encrypt(verifier) : null,
      },
      new Date(nowMs),
    );
    if (!begun) return this.refused('used', 410, provider);
    const maxAgeSec = Math.ceil((s.expiresAt.getTime() - nowMs) / 1000);
    this.d.log.info({ sessionId: s.id, provider: s.provider }, 'connect: sending the browser to the provider');
    return {
      kind: 'redirect',
      location: built.url,
      cookie: bindingCookie(binding, { secure: this.secure, maxAgeSec }),
    };
  }

  // ----- GET /oauth/callback -------------------------------------------------------------------

  async callback(query: Record<string, unknown>, cookieHeader: string | string[] | undefined): Promise<BrowserAnswer> {
    const state = query.state;
    if (!looksLikeToken(state)) return this.refused('unknown', 400);
    const binding = readBindingCookie(cookieHeader);
    const bindingHash = binding && looksLikeToken(binding) ? hashToken(binding) : 'none';
    const nowDate = new Date(this.now());
    // The state is consumed atomically before anything else; a refusal changes nothing.
    const s = await this.d.sessions.consume(hashToken(state), bindingHash, nowDate);
    if (!s) {
      const r = await this.d.sessions.refusal(hashToken(state), bindingHash === 'none' ? null : bindingHash, nowDate);
      this.d.log.info({ sessionId: r.session?.id, why: r.why }, 'connect: callback refused');
      return this.refused(r.why, 400, r.session ? this.d.providers.get(r.session.provider) : undefined);
    }
    const provider = this.d.providers.get(s.provider);
    if (!provider) return this.fail(s, 'misconfigured', 'the provider is no longer defined');
    const one = (k: string) => (typeof query[k] === 'string' ? query[k] : undefined);
    const iss = one('iss');
    // RFC 9207: a response naming another issuer is not processed (mix-up defence).
    if (provider.issuer && iss !== undefined && iss !== provider.issuer)
      return this.fail(
        s,
        'invalid_issuer',
        'the authorization response came from another issuer than this provider; nothing was exchanged',
      );
    const error = one('error');
    if (error !== undefined)
      return this.fail(s, safeCode(error), safeText(one('error_description') ?? 'the provider returned an error'));
    const code = one('code');
    if (!code || code.length > 4096)
      return this.fail(s, 'invalid_request', 'the provider returned neither a code nor an error');
    const ex = await this.exchange(provider, s, code);
    if (ex.kind === 'failed') {
      if (ex.credentials) void this.d.gate.report(provider, 'credentials', ex.credentials);
      else if (ex.error === 'provider_unavailable') void this.d.gate.report(provider, 'other');
      return this.fail(s, ex.error, ex.description, ex.providerCode);
    }
    void this.d.gate.report(provider, 'ok');
    return this.save(provider, s, ex.tokens, ex.neverExpires);
  }

  private async exchange(provider: ResolvedProvider, s: ConnectSession, code: string): Promise<ExchangeResult> {
    const conn = s.connectionId
      ? await this.d.db.connection.findUnique({ where: { id: s.connectionId }, select: { metadata: true } })
      : null;
    const verifier = s.codeVerifierEnc ? this.d.keyring.decrypt(s.codeVerifierEnc) : undefined;
    const built = buildCodeExchange(provider, {
      code,
      redirectUri: this.redirectUri,
      codeVerifier: verifier,
      metadata: this.sessionMetadata(s, conn),
    });
    if (built.kind === 'missing_metadata')
      return { kind: 'failed', error: 'misconfigured', description: built.description };
    // Exchanged once, never retried: a code is single-use.
    const answer = await this.d.gate.run(provider, () => this.d.http(built.request, this.config.requestTimeoutMs));
    return classifyExchange(provider, answer, this.now(), this.redirectUri);
  }

  private async fail(
    s: ConnectSession,
    error: string,
    description: string,
    providerCode?: string,
  ): Promise<BrowserAnswer> {
    await this.d.sessions.finish(
      s.id,
      { status: 'failed', errorCode: error, errorDescription: description },
      new Date(this.now()),
    );
    this.d.log.info({ sessionId: s.id, provider: s.provider, error, providerCode }, 'connect: flow failed');
    return {
      kind: 'redirect',
      location: returnWith(s.returnUrl, { error, error_description: description, session_id: s.id }),
      cookie: clearedBindingCookie(this.secure),
    };
  }

  /** Creates the connection or reconnects it in place; event and session row commit with it. */
  private async save(
    provider: ResolvedProvider,
    s: ConnectSession,
    tokens: TokenSetInput,
    neverExpires: boolean,
  ): Promise<BrowserAnswer> {
    const nowDate = () => new Date(this.now());
    const metadata = s.metadata as Record<string, unknown>;
    const existing = s.connectionId
      ? await this.d.db.connection.findUnique({ where: { id: s.connectionId } })
      : await this.d.db.connection.findUnique({
          where: { provider_externalId: { provider: s.provider, externalId: s.externalId } },
        });
    // Reconnect in place: new tokens on the same row, the session finished in the same transaction.
    const reconnect = (id: string) =>
      this.d.registration.replaceTokens(
        { id, provider, tokens, metadata },
        {
          recoveredReason: 'reconnected',
          neverExpires,
          inTx: (tx, r) =>
            this.d.sessions.finish(
              s.id,
              { status: 'completed', outcome: 'reconnected', resultConnectionId: r.id },
              nowDate(),
              tx,
            ),
        },
      );
    let row: Connection | null = null;
    let outcome: 'connected' | 'reconnected' = 'reconnected';
    if (existing) row = await reconnect(existing.id);
    if (!row) {
      outcome = 'connected';
      const created = await this.d.registration.create(
        { provider, externalId: s.externalId, tokens, metadata },
        {
          neverExpires,
          inTx: async (tx, r) => {
            await enqueueEvent(tx, 'connection.created', {
              connectionId: r.id,
              provider: provider.key,
              payload: { provider: provider.key, externalId: r.externalId, sessionId: s.id },
            });
            await this.d.sessions.finish(
              s.id,
              { status: 'completed', outcome: 'connected', resultConnectionId: r.id },
              nowDate(),
              tx,
            );
          },
        },
      );
      if (created.kind === 'conflict') {
        // Created meanwhile by another path: reconnect that one in place.
        outcome = 'reconnected';
        row = await reconnect(created.id || NO_ID);
        if (!row) return this.fail(s, 'provider_unavailable', 'the connection changed while connecting; start again');
      } else row = created.row;
    }
    await this.d.scheduler.ensure(row.id, row.provider, row.nextRefreshAt);
    await this.saveLinked(provider, row, tokens);
    this.d.log.info(
      { sessionId: s.id, provider: s.provider, connectionId: row.id, outcome },
      'connect: flow completed',
    );
    return {
      kind: 'redirect',
      location: returnWith(s.returnUrl, { connection_id: row.id, status: outcome, session_id: s.id }),
      cookie: clearedBindingCookie(this.secure),
    };
  }

  /** Linked token sets (Slack's user token) are kept as their own connections, as for POST /v1/connections. */
  private async saveLinked(provider: ResolvedProvider, parent: Connection, tokens: TokenSetInput): Promise<void> {
    for (const l of provider.hooks?.linkedTokenSets?.(tokens.raw) ?? []) {
      const t = validateTokens(l.tokens, `tokens${l.suffix}`);
      if (!t.ok) continue;
      const externalId = `${parent.externalId}${l.suffix}`;
      const child = await this.d.db.connection.findUnique({
        where: { provider_externalId: { provider: provider.key, externalId } },
        select: { id: true },
      });
      const row = child
        ? await this.d.registration.replaceTokens({ id: child.id, provider, tokens: t.value })
        : await this.d.registration
            .create({ provider, externalId, tokens: t.value, metadata: {}, parentId: parent.id })
            .then((c) => (c.kind === 'created' ? c.row : null));
      if (row) await this.d.scheduler.ensure(row.id, row.provider, row.nextRefreshAt);
    }
  }
}

/** A provider's error code as a short token (it goes into a URL and a stored row). */
function safeCode(v: string): string {
  const c = v.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64);
  return c || 'provider_error';
}

function safeText(v: string): string {
  return scrubSecrets(v.replace(/[\u0000-\u001f\u007f]/g, ' ')).slice(0, 300);
}
