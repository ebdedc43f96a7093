// Decrypted access tokens that GET .../token answers from without a database read, in this
// process's memory only. An entry is served only while the token is fresh enough for the caller
// and while this process hears of every change to the row (the listener is live): it is dropped
// at once on a change this process makes, and when the change notification arrives for a change
// made elsewhere. While the listener is down nothing is served or stored.

export interface CachedToken {
  accessToken: string;
  expiresAt: Date | null;
  tokenType: string | null;
}

interface Entry extends CachedToken {
  storedAtMs: number;
}

/** One database read whose result may be stored; a change heard while it is out voids it. */
export interface Fill {
  readonly id: string;
  void: boolean;
}

export interface TokenCacheOptions {
  maxEntries: number;
  /** A safety net beyond the notifications: no entry is served longer than this after its read. */
  maxAgeMs: number;
}

export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly fills = new Map<string, Set<Fill>>();
  private live = false;

  constructor(private readonly o: TokenCacheOptions) {}

  get size(): number {
    return this.entries.size;
  }

  get isLive(): boolean {
    return this.live;
  }

  /** Live: every change is heard from now on. Either way what was stored may have missed one. */
  setLive(live: boolean): void {
    this.live = live;
    this.clear();
  }

  /** The stored token if it is still valid for `minValidMs` from `nowMs`. */
  get(id: string, minValidMs: number, nowMs: number): CachedToken | undefined {
    if (!this.live) return undefined;
    const e = this.entries.get(id);
    if (!e) return undefined;
    if (nowMs - e.storedAtMs > this.o.maxAgeMs) {
      this.entries.delete(id);
      return undefined;
    }
    // Too close to expiry for this caller: the database path refreshes (and the change drops it).
    if (e.expiresAt !== null && e.expiresAt.getTime() - nowMs < minValidMs) return undefined;
    // Least recently used goes first: a Map iterates in insertion order.
    this.entries.delete(id);
    this.entries.set(id, e);
    return e;
  }

  begin(id: string): Fill {
    const f: Fill = { id, void: !this.live };
    let set = this.fills.get(id);
    if (!set) this.fills.set(id, (set = new Set()));
    set.add(f);
    return f;
  }

  /** Stores what the read found, unless a change was heard since begin(). Ends the fill. */
  put(f: Fill, t: CachedToken, nowMs: number): void {
    this.end(f);
    if (f.void || !this.live) return;
    this.entries.delete(f.id);
    this.entries.set(f.id, {
      accessToken: t.accessToken,
      expiresAt: t.expiresAt,
      tokenType: t.tokenType,
      storedAtMs: nowMs,
    });
    while (this.entries.size > this.o.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  end(f: Fill): void {
    const set = this.fills.get(f.id);
    if (!set) return;
    set.delete(f);
    if (set.size === 0) this.fills.delete(f.id);
  }

  /** The row changed (or may have): drop its entry and void the reads that are out. */
  forget(id: string): void {
    this.entries.delete(id);
    for (const f of this.fills.get(id) ?? []) f.void = true;
  }

  clear(): void {
    this.entries.clear();
    for (const set of this.fills.values()) for (const f of set) f.void = true;
  }
}
