// The provider's state: grants, refresh tokens (rotation, grace, reuse detection), access tokens,
// counters and the ledger. No HTTP and no persona wording: the routes and personas/ render it.

import type { AccessTokenInfo, Ledger, ProviderStats } from './types.ts';
import type { OldTokenPolicy } from './personas/specs.ts';
import { rand, randHex } from './random.ts';

export interface GrantState {
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

export type RefreshOutcome =
  | { ok: true; grant: GrantState; accessToken: string; refreshToken?: string }
  | { ok: false; failure: { kind: 'unknown_token' | 'dead'; grant?: GrantState } };

export interface TokenStoreOptions {
  now: () => number;
  accessTtlSeconds: number;
  graceSeconds: number;
  reuseDetection: boolean;
  /** The effective rotation setting issues a new refresh token on each refresh. */
  rotates: boolean;
  oldToken: OldTokenPolicy;
  /** When not rotating, send the same refresh token back (HubSpot does). */
  echoWhenNotRotating: boolean;
  /** The scope of a new 'default' or 'bot' grant. */
  scope: string;
  /** The persona's metadata for a new grant (instance_url, team, ...). */
  meta: (g: GrantState) => Record<string, unknown>;
}

export class TokenStore {
  readonly counters = {
    refreshRequests: 0,
    successes: 0,
    reuseEvents: 0,
    revokedByReuse: 0,
    faulted: 0,
    abortedBeforeProcessing: 0,
  };
  private grantSeq = 0;
  private readonly grants = new Map<string, GrantState>();
  private readonly refreshTokens = new Map<string, RefreshTokenState>();
  private readonly accessTokens = new Map<string, { grantId: string; expiresAt: number }>();
  private readonly reuses: Array<{ grantId: string; token: string; at: number }> = [];

  constructor(private readonly o: TokenStoreOptions) {}

  grant(grantId: string): GrantState | undefined {
    return this.grants.get(grantId);
  }

  newGrant(
    kind: GrantState['kind'],
    userId: string | undefined,
    extra: Record<string, unknown> | undefined,
  ): GrantState {
    const grantId = `g${++this.grantSeq}-${randHex(3)}`;
    const token = this.newRefreshTokenValue();
    const g: GrantState = {
      grantId,
      userId: userId ?? `user-${this.grantSeq}`,
      kind,
      status: 'active',
      current: token,
      issued: [token],
      scope: kind === 'user' ? 'search:read,users:read' : this.o.scope,
      meta: {},
      accessSeq: 0,
      refreshes: 0,
      reuses: 0,
    };
    g.meta = { ...this.o.meta(g), ...(extra ?? {}) };
    this.grants.set(grantId, g);
    this.refreshTokens.set(token, { grantId, issuedAt: this.o.now() });
    return g;
  }

  private newRefreshTokenValue(): string {
    return `rt_${rand(30)}`; // 40 random base64url chars
  }

  newAccessToken(g: GrantState): string {
    const at = `at_${g.grantId}_${++g.accessSeq}_${rand(12)}`;
    this.accessTokens.set(at, { grantId: g.grantId, expiresAt: this.o.now() + this.o.accessTtlSeconds * 1000 });
    return at;
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
    if (!g || g.status === 'revoked')
      return { active: false, grantId: a.grantId, reason: 'revoked', expiresAt: a.expiresAt };
    if (this.o.now() >= a.expiresAt)
      return { active: false, grantId: a.grantId, reason: 'expired', expiresAt: a.expiresAt };
    return { active: true, grantId: a.grantId, expiresAt: a.expiresAt };
  }

  // ----- observation

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

  /** Applies one refresh. Synchronous, so concurrent requests are serialized like a real DB row lock. */
  refresh(token: string, omitRefreshToken: boolean): RefreshOutcome {
    const ts = this.refreshTokens.get(token);
    if (!ts) return { ok: false, failure: { kind: 'unknown_token' } };
    const g = this.grants.get(ts.grantId)!;
    if (g.status === 'revoked') return { ok: false, failure: { kind: 'dead', grant: g } };
    const now = this.o.now();
    if (!this.accepts(token, g, ts, now)) return this.reused(token, g, now);

    const accessToken = this.newAccessToken(g);
    g.refreshes++;
    this.counters.successes++;

    if (!this.o.rotates || omitRefreshToken) {
      const echo = this.o.rotates ? undefined : this.o.echoWhenNotRotating ? g.current : undefined;
      return { ok: true, grant: g, accessToken, refreshToken: echo };
    }
    return { ok: true, grant: g, accessToken, refreshToken: this.rotate(token, g, ts, now) };
  }

  private accepts(token: string, g: GrantState, ts: RefreshTokenState, now: number): boolean {
    if (token === g.current) return true;
    if (this.o.oldToken === 'valid') return true; // Microsoft: old refresh tokens are not revoked.
    if (this.o.oldToken === 'until-next-used' && token === g.previous) return true; // Shopify
    return ts.rotatedAt !== undefined && this.o.graceSeconds > 0 && now - ts.rotatedAt < this.o.graceSeconds * 1000;
  }

  /** Reuse of a rotated-away refresh token. */
  private reused(token: string, g: GrantState, now: number): RefreshOutcome {
    this.counters.reuseEvents++;
    g.reuses++;
    this.reuses.push({ grantId: g.grantId, token, at: now });
    if (this.o.reuseDetection) {
      g.status = 'revoked';
      g.revokedBy = 'reuse';
      this.counters.revokedByReuse++;
    }
    return { ok: false, failure: { kind: 'dead', grant: g } };
  }

  private rotate(token: string, g: GrantState, ts: RefreshTokenState, now: number): string {
    const next = this.newRefreshTokenValue();
    this.refreshTokens.set(next, { grantId: g.grantId, issuedAt: now });
    g.issued.push(next);
    if (ts.rotatedAt === undefined) ts.rotatedAt = now;
    const cur = this.refreshTokens.get(g.current)!;
    if (cur.rotatedAt === undefined) cur.rotatedAt = now; // superseded (grace / previous-token path)
    if (this.o.oldToken === 'until-next-used' && token === g.current) g.previous = token;
    g.current = next;
    return next;
  }
}
