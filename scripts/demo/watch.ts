// What the demo sees of the run: the connections as the API lists them, the events, the daemon's
// attempt lines (refreshes by trigger, lateness) and when the revoked connection turned needs_reauth.
import type { DaemonLogLine } from './daemon-process.ts';
import type { Stage } from './stage.ts';
import type { ConnectionBody, Conn } from './types.ts';
import { secs } from './ui.ts';
import { clock } from './view.ts';

export class Watch {
  readonly start = Date.now();
  readonly total: number;
  readonly events: string[] = [];
  /** After the live view: events are printed as lines even on a terminal. */
  liveDone = false;
  victim: Conn | undefined;
  revokedAt = 0;
  reauthSeenAt = 0;
  pollError: string | undefined;
  readonly attempts = { byTrigger: new Map<string, number>(), late: [] as number[] };
  private warnedLines = 0;

  constructor(private readonly s: Stage) {
    this.total = s.opts.seconds * 1000;
    s.daemon.onLog((l) => this.onLog(l));
  }

  elapsed(): number {
    return Date.now() - this.start;
  }

  event(text: string): void {
    const line = `${clock(this.elapsed())}  ${text}`;
    this.events.push(line);
    if (!this.s.ui.tty || this.liveDone) this.s.ui.say(`[${line.replace('  ', '] ')}`);
  }

  private onLog(l: DaemonLogLine): void {
    if (l.fields?.msg === 'refresh attempt') {
      const trig = `${String(l.fields.trigger)} ${String(l.fields.outcome)}`;
      this.attempts.byTrigger.set(trig, (this.attempts.byTrigger.get(trig) ?? 0) + 1);
      if (typeof l.fields.lateMs === 'number' && l.fields.trigger === 'scheduled')
        this.attempts.late.push(l.fields.lateMs);
    }
    if (l.level === 'other' || this.s.ui.tty || this.warnedLines >= 10) return;
    this.warnedLines++;
    this.s.ui.say(
      `  daemon ${l.level}: ${l.text}${this.warnedLines === 10 ? ' (further daemon lines not shown)' : ''}`,
    );
  }

  /** Refreshes every connection from GET /v1/connections; a failed poll is shown, not thrown. */
  async poll(): Promise<void> {
    try {
      const r = await this.s.api('GET', '/v1/connections?limit=1000');
      if (r.status !== 200) throw new Error(`GET /v1/connections answered ${r.status}`);
      this.pollError = undefined;
      for (const row of r.body.connections as ConnectionBody[]) this.update(row);
    } catch (e) {
      this.pollError = e instanceof Error ? e.message : String(e);
    }
  }

  private update(row: ConnectionBody): void {
    const c = this.s.byId.get(row.id);
    if (!c) return;
    const was = c.status;
    c.status = row.status;
    c.reauthReason = row.reauthReason ?? undefined;
    c.version = row.version;
    c.nextRefreshAt = row.nextRefreshAt ? Date.parse(row.nextRefreshAt) : null;
    c.expiresAt = row.expiresAt ? Date.parse(row.expiresAt) : null;
    if (was === 'needs_reauth' || c.status !== 'needs_reauth') return;
    const st = this.s.ui.st;
    if (c === this.victim) {
      this.reauthSeenAt = Date.now();
      this.event(
        `${c.label} → ${st.red('needs_reauth')}, reason "${c.reauthReason}" (seen ${secs(this.reauthSeenAt - this.revokedAt)} after the revocation)`,
      );
    } else {
      this.event(st.red(`UNEXPECTED: ${c.label} → needs_reauth, reason "${c.reauthReason}"`));
    }
  }
}
