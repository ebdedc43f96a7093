// POST /v1/connect-sessions and GET /v1/connect-sessions/:id, below the thin routes.
import { LIMITS, unstorablePath, validateMetadata, type Valid } from '../validation/validate.ts';
import { isUuid } from '../util/ids.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import { statusOf, type ConnectSession, type ConnectSessions } from '../store/connect-sessions.ts';
import type { Db } from '../store/db.ts';
import { buildAuthorizeUrl } from './authorize-url.ts';
import { checkReturnUrl } from './return-url.ts';
import { hashToken, randomToken } from './secrets.ts';

export interface SessionInput {
  provider: string;
  externalId: string;
  returnUrl: string;
  connectionId?: string;
  scopes?: string[];
  metadata: Record<string, unknown>;
}

const SCOPE_RE = /^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/;
const fail = (field: string, message: string) => ({ ok: false as const, field, message });

/** Shape checks; every rejection names the field. Pure. */
function validateSessionInput(
  body: unknown,
  providers: ProviderRegistry,
  returnUrls: readonly string[],
): Valid<SessionInput> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail('body', 'must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.provider !== 'string' || b.provider === '') return fail('provider', 'is required');
  const p = providers.get(b.provider);
  if (!p) return fail('provider', `unknown provider "${b.provider.slice(0, 64)}"`);
  if (!p.authorizeUrl)
    return fail(
      'provider',
      `provider "${p.key}" has no authorizeUrl: it cannot be connected through the hosted flow (set authorizeUrl in PROVIDERS_FILE)`,
    );
  if (typeof b.externalId !== 'string' || b.externalId === '')
    return fail('externalId', 'is required (a non-empty string)');
  if (
    b.externalId.length > LIMITS.externalIdChars ||
    /[\u0000-\u001f\u007f]/.test(b.externalId) ||
    unstorablePath(b.externalId, 'externalId')
  ) {
    return fail(
      'externalId',
      `must be at most ${LIMITS.externalIdChars} characters of text without control characters`,
    );
  }
  const r = checkReturnUrl(b.returnUrl, returnUrls);
  if (!r.ok) return fail('returnUrl', r.message);
  if (b.connectionId !== undefined && (typeof b.connectionId !== 'string' || !isUuid(b.connectionId)))
    return fail('connectionId', 'must be a connection id (uuid)');
  let scopes: string[] | undefined;
  if (b.scopes !== undefined) {
    if (
      !Array.isArray(b.scopes) ||
      b.scopes.length > 100 ||
      b.scopes.some((s) => typeof s !== 'string' || !SCOPE_RE.test(s))
    ) {
      return fail('scopes', 'must be an array of at most 100 scope strings (no spaces, quotes or backslashes)');
    }
    scopes = b.scopes as string[];
  }
  const md = validateMetadata(b.metadata);
  if (!md.ok) return md;
  return {
    ok: true,
    value: {
      provider: p.key,
      externalId: b.externalId,
      returnUrl: b.returnUrl as string,
      connectionId: b.connectionId,
      scopes,
      metadata: md.value,
    },
  };
}

export type CreateResult =
  | {
      kind: 'created';
      body: { id: string; url: string; expiresAt: string; mode: 'connect' | 'reconnect'; connectionId?: string };
    }
  | { kind: 'invalid'; field: string; message: string }
  | { kind: 'not_found'; message: string }
  | { kind: 'conflict'; message: string };

export async function createSession(
  d: { db: Db; sessions: ConnectSessions; providers: ProviderRegistry; now?: () => number },
  cfg: { publicUrl: string; returnUrls: string[]; sessionTtlMs: number },
  body: unknown,
): Promise<CreateResult> {
  const v = validateSessionInput(body, d.providers, cfg.returnUrls);
  if (!v.ok) return { kind: 'invalid', field: v.field, message: v.message };
  const input = v.value;
  const provider = d.providers.get(input.provider)!;
  let existing: { id: string; provider: string; externalId: string; metadata: unknown } | null;
  if (input.connectionId) {
    existing = await d.db.connection.findUnique({
      where: { id: input.connectionId },
      select: { id: true, provider: true, externalId: true, metadata: true },
    });
    if (!existing) return { kind: 'not_found', message: 'no such connection (connectionId)' };
    if (existing.provider !== input.provider || existing.externalId !== input.externalId) {
      return { kind: 'conflict', message: 'connectionId names a connection with another provider or externalId' };
    }
  } else {
    existing = await d.db.connection.findUnique({
      where: { provider_externalId: { provider: input.provider, externalId: input.externalId } },
      select: { id: true, provider: true, externalId: true, metadata: true },
    });
  }
  // Fail now, naming the field, rather than on the user's click.
  const probe = buildAuthorizeUrl(provider, {
    redirectUri: `${cfg.publicUrl}/oauth/callback`,
    state: 'x',
    codeChallenge: 'x',
    scopes: input.scopes,
    metadata: { ...((existing?.metadata as Record<string, unknown> | null) ?? {}), ...input.metadata },
  });
  if (!probe.ok) return { kind: 'invalid', field: probe.field, message: probe.message };
  const token = randomToken();
  const nowMs = (d.now ?? Date.now)();
  const s = await d.sessions.create({
    tokenHash: hashToken(token),
    provider: input.provider,
    externalId: input.externalId,
    returnUrl: input.returnUrl,
    connectionId: existing?.id ?? null,
    scopes: input.scopes ?? [],
    metadata: input.metadata,
    expiresAt: new Date(nowMs + cfg.sessionTtlMs),
  });
  return {
    kind: 'created',
    body: {
      id: s.id,
      url: `${cfg.publicUrl}/connect/${token}`,
      expiresAt: s.expiresAt.toISOString(),
      mode: existing ? 'reconnect' : 'connect',
      ...(existing ? { connectionId: existing.id } : {}),
    },
  };
}

export function sessionView(s: ConnectSession, nowMs: number) {
  const status = statusOf(s, nowMs);
  return {
    id: s.id,
    provider: s.provider,
    externalId: s.externalId,
    status,
    ...((s.resultConnectionId ?? s.connectionId) ? { connectionId: s.resultConnectionId ?? s.connectionId } : {}),
    ...(s.outcome ? { outcome: s.outcome } : {}),
    ...(s.errorCode
      ? { error: s.errorCode, errorDescription: s.errorDescription }
      : status === 'expired'
        ? { error: 'expired' }
        : {}),
    createdAt: s.createdAt.toISOString(),
    expiresAt: s.expiresAt.toISOString(),
    ...(s.finishedAt ? { finishedAt: s.finishedAt.toISOString() } : {}),
  };
}
