// RFC 7009 token revocation with the provider's client authentication. The refresh token itself is
// revoked (for most providers that also ends its access tokens). One try, never retried.
import type { HttpClient } from './http.ts';
import { buildTokenRequest } from './request.ts';
import type { ProviderDefinition } from '../providers/types.ts';

export type RevocationResult =
  { revoked: true } | { revoked: false; reason: 'not_supported' | 'failed'; detail: string };

export async function revokeRefreshToken(
  def: ProviderDefinition,
  refreshToken: string,
  metadata: Record<string, unknown>,
  http: HttpClient,
  timeoutMs: number,
): Promise<RevocationResult> {
  if (!def.revocationUrl)
    return { revoked: false, reason: 'not_supported', detail: 'the provider definition has no revocationUrl' };
  if (!refreshToken)
    return { revoked: false, reason: 'not_supported', detail: 'the connection holds no refresh token' };
  // RFC 7009 2.1: always a form body, whatever the token endpoint takes.
  const built = buildTokenRequest(
    { ...def, paramsIn: 'form' },
    { token: refreshToken, token_type_hint: 'refresh_token' },
    metadata,
    def.revocationUrl,
  );
  if (built.kind === 'missing_metadata') return { revoked: false, reason: 'failed', detail: built.description };
  const a = await http(built.request, timeoutMs);
  if (a.kind === 'network')
    return { revoked: false, reason: 'failed', detail: `no answer from the revocation endpoint (${a.code})` };
  // RFC 7009 2.2: 200 also for a token that was already invalid. Slack answers 200 {"ok":false}.
  if (a.status === 200 && !/"ok"\s*:\s*false/.test(a.bodyText)) return { revoked: true };
  return { revoked: false, reason: 'failed', detail: `the revocation endpoint answered ${a.status}` };
}
