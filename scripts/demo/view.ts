// The demo's live view: a block redrawn in place on a terminal, plain periodic lines otherwise.

export interface ConnView {
  label: string;
  status: string;
  reauthReason?: string;
  nextRefreshAt: number | null;
  expiresAt: number | null;
}

export interface Snapshot {
  elapsedMs: number;
  totalMs: number;
  refreshes: number;
  refreshRate: number;
  /** Rotations by trigger, from the daemon's info-level attempt lines (absent at LOG_LEVEL=warn). */
  byTrigger?: { scheduled: number; onDemand: number };
  reuseEvents: number;
  conns: ConnView[];
  onDemand: {
    sent: number;
    tokens: number;
    refusedReauth: number;
    errors: number;
    invalid: number;
    refreshedOnDemand: number;
    inFlight: number;
  };
  events: string[];
  daemonWarnings: number;
  daemonErrors: number;
  lastDaemonLine?: string;
  pollError?: string;
}

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  red(s: string): string;
}

const plain: Style = { bold: (s) => s, dim: (s) => s, green: (s) => s, yellow: (s) => s, red: (s) => s };
const ansi = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const colored: Style = {
  bold: ansi(1, 22),
  dim: ansi(2, 22),
  green: ansi(32, 39),
  yellow: ansi(33, 39),
  red: ansi(31, 39),
};

export function styleFor(stream: NodeJS.WriteStream): Style {
  return stream.isTTY && !process.env.NO_COLOR && process.env.TERM !== 'dumb' ? colored : plain;
}

export const clock = (ms: number) => {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// eslint-disable-next-line no-control-regex
const ANSI_RE = /\x1b\[[0-9;]*[A-Za-z]/g;
const visible = (s: string) => s.replace(ANSI_RE, '');

function fit(line: string, width: number): string {
  if (visible(line).length <= width) return line;
  return `${visible(line).slice(0, Math.max(0, width - 1))}…`;
}

function statusCounts(conns: ConnView[]): { active: number; reauth: number; other: number } {
  let active = 0;
  let reauth = 0;
  let other = 0;
  for (const c of conns) {
    if (c.status === 'active') active++;
    else if (c.status === 'needs_reauth') reauth++;
    else other++;
  }
  return { active, reauth, other };
}

function nextDue(conns: ConnView[], now: number): { label: string; inMs: number; soon: number } | undefined {
  const due = conns
    .filter((c) => c.status === 'active' && c.nextRefreshAt !== null)
    .sort((a, b) => a.nextRefreshAt! - b.nextRefreshAt!);
  if (!due.length) return undefined;
  const first = due[0];
  return {
    label: first.label,
    inMs: first.nextRefreshAt! - now,
    soon: due.filter((c) => c.nextRefreshAt! - now <= 3000).length,
  };
}

export function expiredNow(conns: ConnView[], now: number): number {
  return conns.filter((c) => c.status === 'active' && c.expiresAt !== null && c.expiresAt <= now).length;
}

function dueText(conns: ConnView[], now: number): string {
  const d = nextDue(conns, now);
  if (!d) return 'nothing scheduled';
  const when = d.inMs <= 0 ? `now: ${d.label} (planned ${secs(-d.inMs)} ago)` : `in ${secs(d.inMs)} (${d.label})`;
  return `${when}; ${d.soon} due within 3 s`;
}

/** The block drawn on a terminal. */
export function renderBlock(s: Snapshot, st: Style, width: number, now: number): string[] {
  const counts = statusCounts(s.conns);
  const barWidth = 24;
  const filled = Math.min(barWidth, Math.round((s.elapsedMs / s.totalMs) * barWidth));
  const bar = `${'█'.repeat(filled)}${st.dim('░'.repeat(barWidth - filled))}`;
  const expired = expiredNow(s.conns, now);
  const label = (t: string) => `  ${t.padEnd(26)}`;
  const od = s.onDemand;
  const reauth = s.conns.filter((c) => c.status === 'needs_reauth');
  const grid = s.conns
    .map((c) => {
      if (c.status === 'needs_reauth') return st.red('✖');
      if (c.status !== 'active') return st.yellow('?');
      if (c.nextRefreshAt !== null && c.nextRefreshAt - now <= 1000) return st.yellow('◐');
      return st.green('●');
    })
    .join('');
  const lines = [
    `${st.bold('oauth-refresher demo')}  ${clock(s.elapsedMs)} of ${clock(s.totalMs)}  ${bar}`,
    '',
    `${label('refreshes done')}${st.bold(String(s.refreshes))} at the provider  ${st.dim(`(${s.refreshRate.toFixed(1)}/s)`)}${s.byTrigger ? `  ${s.byTrigger.scheduled} by the scheduler, ${s.byTrigger.onDemand} on demand` : ''}`,
    `${label('reuse events (must be 0)')}${s.reuseEvents === 0 ? st.green('0') : st.red(String(s.reuseEvents))}  ${st.dim('refresh tokens presented twice')}`,
    `${label('connections')}${st.green(`${counts.active} active`)}  ${counts.reauth ? st.red(`${counts.reauth} needs_reauth`) : st.dim('0 needs_reauth')}${counts.other ? `  ${counts.other} other` : ''}  ${expired ? st.yellow(`${expired} expired right now`) : st.dim('none expired')}`,
    ...reauth.map(
      (c) => `${label('')}${st.red('✖')} ${c.label}: needs_reauth, reason ${st.bold(`"${c.reauthReason ?? '?'}"`)}`,
    ),
    `${label('next refresh due')}${dueText(s.conns, now)}`,
    `${label('on-demand GET /token')}${od.sent} sent · ${st.green(`${od.tokens} tokens`)} · ${od.refusedReauth} refused (needs_reauth) · ${od.errors ? st.red(`${od.errors} errors`) : '0 errors'}`,
    `${label('')}${od.invalid ? st.red(`${od.invalid} tokens REJECTED by the provider`) : st.dim(`every token checked at the provider: valid`)}${s.byTrigger ? '' : st.dim(` · ${od.refreshedOnDemand} refreshed on demand`)}`,
    '',
    `  ${grid}  ${st.dim('● active  ◐ due within 1 s  ✖ needs_reauth')}`,
    '',
    `  ${st.bold('events')}`,
    ...(s.events.length ? s.events.slice(-5).map((e) => `    ${e}`) : [`    ${st.dim('(none yet)')}`]),
    `  ${st.dim(`daemon log: ${s.daemonWarnings} warning${s.daemonWarnings === 1 ? '' : 's'}, ${s.daemonErrors} error${s.daemonErrors === 1 ? '' : 's'}${s.lastDaemonLine ? ` · last: ${s.lastDaemonLine}` : ''}`)}`,
    ...(s.pollError ? [`  ${st.yellow(`API poll failed: ${s.pollError}`)}`] : []),
  ];
  return lines.map((l) => fit(l, width));
}

/** One line for logs and pipes. */
export function renderLine(s: Snapshot, now: number): string {
  const c = statusCounts(s.conns);
  const d = nextDue(s.conns, now);
  const due = d ? (d.inMs <= 0 ? `now (planned ${secs(-d.inMs)} ago)` : `in ${secs(d.inMs)}`) : '-';
  const od = s.onDemand;
  return (
    `[${clock(s.elapsedMs)}] refreshes ${s.refreshes} · reuse ${s.reuseEvents} · ${c.active} active, ${c.reauth} needs_reauth · ` +
    `next due ${due} · on-demand ${od.sent} sent, ${od.tokens} tokens, ${od.refusedReauth} needs_reauth, ${od.errors} errors, ${od.invalid} rejected`
  );
}

/** Redraws a block in place: moves up over the previous one and clears to the end of the screen. */
export class LiveBlock {
  private drawn = 0;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  draw(lines: string[]): void {
    const up = this.drawn ? `\x1b[${this.drawn}F\x1b[0J` : '';
    this.stream.write(`${up}${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }

  hideCursor(): void {
    this.stream.write('\x1b[?25l');
  }

  showCursor(): void {
    this.stream.write('\x1b[?25h');
  }
}
