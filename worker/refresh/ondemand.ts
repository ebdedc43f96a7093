// The on-demand path (GET /token, POST /refresh). Same single-flight as the scheduler: callers in
// this process share one in-flight refresh per connection; across processes the Redis lock decides,
// and a caller that finds it held waits for the holder's result instead of calling the provider.
import type { Keyring } from '../crypto/keyring.ts';
import type { ConnectionStore, TokenRow } from '../store/connections.ts';
import type { RefreshOutcome } from './outcome.ts';
import type { Trigger } from '../interfaces.ts';
import type { Refresher } from './refresher.ts';
import type { TokenCache } from './token-cache.ts';
import { SingleFlight } from '../util/single-flight.ts';

export type TokenResult =
  | { kind: 'token'; accessToken: string; expiresAt: Date | null; tokenType: string | null; refreshed: boolean }
  | { kind: 'needs_reauth'; reauthReason: string | null }
  | { kind: 'not_found' }
  | { kind: 'unavailable'; outcome: RefreshOutcome };

export class OnDemand {
  private readonly inflight = new SingleFlight<RefreshOutcome>();

  constructor(
    private readonly store: ConnectionStore,
    private readonly refresher: Refresher,
    private readonly keyring: Keyring,
    private readonly opts: { waitMs: number; pollMs?: number; now?: () => number; cache?: TokenCache },
  ) {}

  /** This process changed the connection's tokens or state: no read may answer from before. */
  forget(connectionId: string): void {
    this.opts.cache?.forget(connectionId);
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** One refresh per connection per process at a time; waits out another process's refresh. */
  refresh(
    connectionId: string,
    trigger: Trigger,
    minValidMs?: number,
    opts: { bypassBreaker?: boolean } = {},
  ): Promise<RefreshOutcome> {
    const key = `${connectionId}:${trigger}${opts.bypassBreaker ? ':force' : ''}`;
    return this.inflight.run(key, () => this.refreshWaiting(connectionId, trigger, minValidMs, opts.bypassBreaker));
  }

  private async refreshWaiting(
    connectionId: string,
    trigger: Trigger,
    minValidMs?: number,
    bypassBreaker?: boolean,
  ): Promise<RefreshOutcome> {
    const deadline = this.now() + this.opts.waitMs;
    const before = await this.store.load(connectionId);
    for (;;) {
      const out = await this.refresher.refresh(connectionId, { trigger, minValidMs, bypassBreaker });
      if (!(out.outcome === 'skipped' && out.why === 'busy')) return out;
      // Someone else holds the lock: wait until it lets go, then look at what it left.
      await new Promise((r) => setTimeout(r, this.opts.pollMs ?? 50));
      const row = await this.store.load(connectionId);
      if (row && before && row.version !== before.version) {
        return row.status === 'active'
          ? { outcome: 'lost_race', versionBefore: before.version, nextRefreshAt: row.nextRefreshAt }
          : { outcome: 'skipped', why: 'not_active', nextRefreshAt: null };
      }
      if (
        trigger === 'on_demand' &&
        row &&
        row.status === 'active' &&
        row.expiresAt &&
        row.expiresAt.getTime() - this.now() >= (minValidMs ?? 60_000)
      ) {
        return { outcome: 'skipped', why: 'not_due', nextRefreshAt: row.nextRefreshAt };
      }
      if (this.now() > deadline) return out;
    }
  }

  async token(connectionId: string, minValidMs: number): Promise<TokenResult> {
    const cache = this.opts.cache;
    const hit = cache?.get(connectionId, minValidMs, this.now());
    if (hit) return { kind: 'token', ...hit, refreshed: false };
    const fill = cache?.begin(connectionId);
    try {
      const row = await this.store.loadToken(connectionId);
      if (!row) return { kind: 'not_found' };
      if (row.status !== 'active') return { kind: 'needs_reauth', reauthReason: row.reauthReason };
      if (!this.fresh(row, minValidMs)) return await this.refreshed(connectionId, minValidMs);
      const t = this.asToken(row, false);
      if (fill) cache!.put(fill, t, this.now());
      return t;
    } finally {
      if (fill) cache!.end(fill);
    }
  }

  /** The token after an on-demand refresh (or after another process's, if it won). */
  private async refreshed(connectionId: string, minValidMs: number): Promise<TokenResult> {
    const out = await this.refresh(connectionId, 'on_demand', minValidMs);
    const row = await this.store.loadToken(connectionId);
    if (!row) return { kind: 'not_found' };
    if (row.status !== 'active') return { kind: 'needs_reauth', reauthReason: row.reauthReason };
    if (out.outcome === 'rotated' || this.fresh(row, minValidMs)) return this.asToken(row, out.outcome === 'rotated');
    return { kind: 'unavailable', outcome: out };
  }

  private fresh(row: TokenRow, minValidMs: number): boolean {
    // No expiry at all: a non-expiring token (stored by the connect flow without refresh token).
    return row.expiresAt === null || row.expiresAt.getTime() - this.now() >= minValidMs;
  }

  private asToken(row: TokenRow, refreshed: boolean): Extract<TokenResult, { kind: 'token' }> {
    return {
      kind: 'token',
      accessToken: this.keyring.decrypt(row.accessTokenEnc),
      expiresAt: row.expiresAt,
      tokenType: row.tokenType,
      refreshed,
    };
  }
}
