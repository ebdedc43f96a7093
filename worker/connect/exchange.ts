// The authorization code exchange (RFC 6749 4.1.3 + RFC 7636 4.5) through the provider's own token
// request machinery, and what its answer means for the flow. Pure: the clock is passed in.
import type { TokenSetInput } from '../interfaces.ts';
import { classifyAnswer, parseBody, type HttpAnswer } from '../oauth/answer.ts';
import { buildTokenRequest, type BuildResult } from '../oauth/request.ts';
import type { ProviderDefinition } from '../providers/types.ts';

export function buildCodeExchange(
  def: ProviderDefinition,
  a: { code: string; redirectUri: string; codeVerifier?: string; metadata: Record<string, unknown> },
): BuildResult {
  const params: Record<string, string> = {
    grant_type: 'authorization_code',
    code: a.code,
    redirect_uri: a.redirectUri,
    ...def.extraParams,
  };
  if (a.codeVerifier) params.code_verifier = a.codeVerifier;
  return buildTokenRequest(def, params, a.metadata);
}

export type FlowError = 'invalid_grant' | 'provider_unavailable' | 'misconfigured' | 'no_refresh_token';

export type ExchangeResult =
  | { kind: 'tokens'; tokens: TokenSetInput; neverExpires: boolean }
  | {
      kind: 'failed';
      error: FlowError;
      description: string;
      providerCode?: string;
      httpStatus?: number;
      credentials?: { code: string; description: string };
    };

function invalidCodeDescription(providerDesc: string, redirectUri: string): string {
  const d = providerDesc.toLowerCase();
  const likely = /redirect/.test(d)
    ? `the redirect URI ${redirectUri} does not match the one registered for the app at the provider`
    : /verifier|pkce|challenge/.test(d)
      ? 'the PKCE verifier did not match (the provider may not support PKCE: set pkce "none" for it)'
      : /expired/.test(d)
        ? 'the code expired before it was exchanged (the user took too long or clocks disagree)'
        : /used|redeemed/.test(d)
          ? 'the code was already used'
          : `most likely the redirect URI ${redirectUri} is not registered exactly (scheme, host, port, path) for the app at the provider; otherwise the code expired or was already used`;
  return `The provider refused the authorization code: ${likely}.${providerDesc ? ` Provider said: ${providerDesc}` : ''}`.slice(
    0,
    500,
  );
}

function noRefreshDescription(def: ProviderDefinition): string {
  return (
    def.offlineHint ??
    `${def.displayName} returned an access token that expires but no refresh token, so the connection would die within the hour. Enable refresh tokens / offline access for the app at the provider (for OIDC servers the offline_access scope).`
  );
}

export function classifyExchange(
  def: ProviderDefinition,
  answer: HttpAnswer,
  nowMs: number,
  redirectUri: string,
): ExchangeResult {
  // An exchange answer without a refresh token is judged here, not retried as a refresh would be.
  const asExchange: ProviderDefinition = { ...def, rotation: 'optional' };
  const c = classifyAnswer(asExchange, answer, nowMs);
  if (c.kind === 'tokens') {
    const raw =
      answer.kind === 'response'
        ? (parseBody(answer.bodyText, answer.headers['content-type'], def.responseFormat) ?? {})
        : {};
    const t = c.tokens;
    if (!t.refreshToken) {
      // Without any expiry in the answer (and a provider whose tokens carry one), the token does not expire.
      const bare = classifyAnswer(
        { ...asExchange, expiry: { ...def.expiry, defaultLifetimeSec: undefined } },
        answer,
        nowMs,
      );
      const neverExpires = def.expiry.source !== 'none' && bare.kind === 'tokens' && bare.tokens.expiresAt === null;
      if (!neverExpires)
        return {
          kind: 'failed',
          error: 'no_refresh_token',
          description: noRefreshDescription(def),
          httpStatus: c.httpStatus,
        };
      return {
        kind: 'tokens',
        neverExpires: true,
        tokens: { accessToken: t.accessToken, refreshToken: '', tokenType: t.tokenType, scope: t.scope, raw },
      };
    }
    return {
      kind: 'tokens',
      neverExpires: false,
      tokens: {
        accessToken: t.accessToken,
        refreshToken: t.refreshToken,
        expiresAt: t.expiresAt ?? undefined,
        tokenType: t.tokenType,
        scope: t.scope,
        raw,
      },
    };
  }
  const status = c.httpStatus;
  if (c.kind === 'credentials') {
    return {
      kind: 'failed',
      error: 'misconfigured',
      description: `The provider rejected this service's client credentials (${c.code}): the operator must fix the client id or secret.`,
      providerCode: c.code,
      httpStatus: status,
      credentials: { code: c.code, description: c.description },
    };
  }
  const invalidCode =
    (def.invalidCodeErrors ?? ['invalid_grant']).includes(c.code) && (status === undefined || status < 500);
  if (invalidCode || c.kind === 'terminal')
    return {
      kind: 'failed',
      error: 'invalid_grant',
      description: invalidCodeDescription(c.description, redirectUri),
      providerCode: c.code,
      httpStatus: status,
    };
  return {
    kind: 'failed',
    error: 'provider_unavailable',
    description: `The provider could not complete the sign-in right now (${c.code}). Try again in a few minutes.`,
    providerCode: c.code,
    httpStatus: status,
  };
}
