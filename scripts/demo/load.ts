// The load: bursts of GET /token?min_valid_seconds=N racing the scheduler, mostly on connections
// whose scheduled refresh is about to start, each token checked at the provider.
import { randomInt } from 'node:crypto';
import type { Stage } from './stage.ts';
import { MIN_VALID_S, type ApiReply, type Conn } from './types.ts';
import type { Watch } from './watch.ts';

export class Load {
  readonly od = {
    sent: 0,
    tokens: 0,
    refusedReauth: 0,
    errors: 0,
    invalid: 0,
    inFlight: 0,
    servedForRevokedBeforeDaemonKnew: 0,
  };
  /** Tokens the daemon said it refreshed for the request (connection id and token). */
  readonly refreshedPairs = new Set<string>();
  readonly errorSamples: string[] = [];
  readonly invalidSamples: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private bursting = true;
  private bursts: Promise<void> = Promise.resolve();

  constructor(
    private readonly s: Stage,
    private readonly watch: Watch,
  ) {}

  start(): void {
    this.bursts = this.burstLoop();
  }

  /** Ends the bursts and waits for the requests still in flight. */
  async stop(): Promise<void> {
    this.bursting = false;
    await this.bursts;
    await Promise.allSettled([...this.inFlight]);
  }

  // Bursts: a few connections at a time, several concurrent callers each, at random moments.
  private async burstLoop(): Promise<void> {
    const { run } = this.s;
    await run.sleep(500);
    while (this.bursting && !run.aborted()) {
      for (const c of this.pick()) {
        for (let k = 0; k < 4; k++) {
          const p = this.requestToken(c);
          this.inFlight.add(p);
          void p.finally(() => this.inFlight.delete(p));
        }
      }
      await run.sleep(600 + randomInt(600));
    }
  }

  /** Mostly connections whose scheduled refresh is about to start, so the two really collide. */
  private pick(): Set<Conn> {
    const { conns } = this.s;
    const now = Date.now();
    const dueSoon = conns.filter(
      (c) =>
        c.status === 'active' &&
        c.nextRefreshAt !== null &&
        c.nextRefreshAt - now > -500 &&
        c.nextRefreshAt - now < 1200,
    );
    const picks = new Set<Conn>();
    while (picks.size < Math.min(2, dueSoon.length)) picks.add(dueSoon[randomInt(dueSoon.length)]);
    while (picks.size < Math.min(3, conns.length)) picks.add(conns[randomInt(conns.length)]);
    return picks;
  }

  private async requestToken(c: Conn): Promise<void> {
    const od = this.od;
    od.sent++;
    od.inFlight++;
    try {
      const r = await this.s.api('GET', `/v1/connections/${c.id}/token?min_valid_seconds=${MIN_VALID_S}`);
      if (r.status === 200) this.served(c, r);
      else if (r.status === 409 && r.body?.status === 'needs_reauth') od.refusedReauth++;
      else this.failed(c, `HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 160)}`);
    } catch (e) {
      this.failed(c, e instanceof Error ? e.message : String(e));
    } finally {
      od.inFlight--;
    }
  }

  /** Would the provider's API accept this token right now? */
  private served(c: Conn, r: ApiReply): void {
    const od = this.od;
    od.tokens++;
    const at = String(r.body.access_token);
    if (r.body.refreshed) this.refreshedPairs.add(`${c.id}:${at}`);
    const info = this.s.fake.checkAccessToken(at);
    if (info.active && info.grantId === c.grantId) return;
    if (c === this.watch.victim && info.reason === 'revoked') {
      od.servedForRevokedBeforeDaemonKnew++; // the daemon cannot know before its next refresh
      return;
    }
    od.invalid++;
    if (this.invalidSamples.length < 5)
      this.invalidSamples.push(`${c.label}: provider says ${info.reason ?? 'wrong grant'}`);
  }

  private failed(c: Conn, why: string): void {
    this.od.errors++;
    if (this.errorSamples.length < 5) this.errorSamples.push(`${c.label}: ${why}`);
  }
}
