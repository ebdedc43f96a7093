// Builds the refresh_token grant request for a provider definition. Pure.
import { fillTokenUrl } from '../providers/token-url.ts';
import type { ProviderDefinition } from '../providers/types.ts';

export interface TokenRequest {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body?: string;
}

/** The request, or why it cannot be built (the kind doubles as the attempt's error code). */
export type BuildResult =
  { kind: 'request'; request: TokenRequest } | { kind: 'missing_metadata'; description: string };

export function buildRefreshRequest(
  def: ProviderDefinition,
  refreshToken: string,
  metadata: Record<string, unknown>,
): BuildResult {
  return buildTokenRequest(
    def,
    { grant_type: 'refresh_token', refresh_token: refreshToken, ...def.extraParams },
    metadata,
  );
}

/**
 * Any request to the provider's token endpoint (or another endpoint with the same client auth and
 * parameter placement, e.g. RFC 7009 revocation): the definition decides where things go.
 */
export function buildTokenRequest(
  def: ProviderDefinition,
  grantParams: Record<string, string>,
  metadata: Record<string, unknown>,
  urlTemplate = def.tokenUrl,
): BuildResult {
  const filled = fillTokenUrl(urlTemplate, metadata);
  if (!filled.ok)
    return {
      kind: 'missing_metadata',
      description: `token URL needs metadata "${filled.missing}" (a host-safe value)`,
    };
  const params: Record<string, string> = { ...grantParams };
  const headers: Record<string, string> = { accept: 'application/json', ...lowerKeys(def.headers) };
  if (def.clientAuth === 'basic' || def.clientAuth === 'both') {
    // RFC 6749 2.3.1: form-urlencode id and secret before base64.
    const cred = `${encodeURIComponent(def.clientId)}:${encodeURIComponent(def.clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(cred).toString('base64')}`;
  }
  if (def.clientAuth === 'body' || def.clientAuth === 'both') {
    params.client_id = def.clientId;
    params.client_secret = def.clientSecret;
  }
  const url = new URL(filled.url);
  let body: string | undefined;
  if (def.paramsIn === 'query') {
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  } else if (def.paramsIn === 'json') {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(params);
  } else {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(params).toString();
  }
  return { kind: 'request', request: { url: url.toString(), method: 'POST', headers, body } };
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}
