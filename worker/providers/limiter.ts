// Per-provider in-process limits on the token endpoint (used by the provider gate, breaker.ts):
// at most `concurrency` requests in flight and at most `ratePerSecond` starts per second.

/** Counting semaphore + start pacing for one provider. Limits are read live (a reload may change them). */
export class ProviderLimiter {
  active = 0;
  private readonly waiters: (() => void)[] = [];
  private paceChain: Promise<void> = Promise.resolve();
  private lastStartAt = 0;

  async acquire(limit: () => number): Promise<void> {
    if (this.active < limit()) {
      this.active++;
      return;
    }
    // release() counts us in before waking us.
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(limit: () => number): void {
    this.active--;
    // Hand free slots to waiters (a raised limit after a reload may admit several).
    while (this.waiters.length > 0 && this.active < limit()) {
      this.active++;
      this.waiters.shift()!();
    }
  }

  /**
   * Spaces request starts so at most `perSecond` begin in any second (0 = unlimited). Starts are
   * serialised and measured from the previous actual start, so a late timer never lets two
   * requests out closer together than 1/perSecond.
   */
  pace(perSecond: number, now: () => number): Promise<void> {
    if (!(perSecond > 0)) return Promise.resolve();
    const turn = this.paceChain.then(async () => {
      const wait = this.lastStartAt + 1000 / perSecond - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, Math.ceil(wait)));
      this.lastStartAt = now();
    });
    this.paceChain = turn.catch(() => undefined);
    return turn;
  }

  get waiting(): number {
    return this.waiters.length;
  }
}
