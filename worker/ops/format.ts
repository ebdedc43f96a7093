// Pure helpers for the ops commands: durations (2h, 30m, 7d), relative times, plain-text tables,
// progress. No I/O here, so they are unit-tested table by table.

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses "90s", "30m", "2h", "24h", "7d", "1w", "1h30m" into milliseconds; null when malformed. */
export function parseDuration(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === '') return null;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) {
    total += Number(m[1]) * UNITS[m[2]];
    matched = re.lastIndex;
  }
  if (matched !== t.length || total <= 0 || !Number.isFinite(total)) return null;
  return Math.round(total);
}

/** A duration for people: "850 ms", "42 s", "12 min", "3 h 5 min", "4 d 2 h". */
export function formatDuration(ms: number): string {
  const a = Math.abs(ms);
  if (a < 1000) return `${Math.round(a)} ms`;
  if (a < 60_000) return `${Math.round(a / 1000)} s`;
  if (a < 3_600_000) return `${Math.round(a / 60_000)} min`;
  if (a < 86_400_000) {
    const h = Math.floor(a / 3_600_000);
    const min = Math.round((a % 3_600_000) / 60_000);
    return min ? `${h} h ${min} min` : `${h} h`;
  }
  const d = Math.floor(a / 86_400_000);
  const h = Math.round((a % 86_400_000) / 3_600_000);
  return h ? `${d} d ${h} h` : `${d} d`;
}

/** "5 min ago" / "in 3 h" / "-" (null). */
export function relative(at: Date | null | undefined, nowMs: number): string {
  if (!at) return '-';
  const diff = at.getTime() - nowMs;
  if (Math.abs(diff) < 1000) return 'now';
  return diff < 0 ? `${formatDuration(diff)} ago` : `in ${formatDuration(diff)}`;
}

/** ISO time without milliseconds, UTC: 2026-11-22 00:41:07Z. */
export function isoShort(at: Date | null | undefined): string {
  if (!at) return '-';
  return at
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** Cuts a string to n characters with an ellipsis. */
export function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, Math.max(0, n - 1))}…`;
}

/**
 * A plain-text table: header row, a dashed rule, rows; columns padded to the widest cell.
 * Numeric-looking columns (every cell a number) are right-aligned.
 */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string[] {
  const cells = rows.map((r) => headers.map((_h, i) => (r[i] === null || r[i] === undefined ? '-' : String(r[i]))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const numeric = headers.map(
    (_h, i) => cells.length > 0 && cells.every((r) => /^-?\d+(\.\d+)?%?$/.test(r[i]) || r[i] === '-'),
  );
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
}

/** A one-line progress bar: "[########------------]  12/40  30%". */
export function progressBar(done: number, total: number, width = 30): string {
  const frac = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(frac * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(done).padStart(String(total).length)}/${total} ${String(Math.round(frac * 100)).padStart(3)}%`;
}

/** Which item numbers get a plain progress line when stdout is not a terminal (about every 10%). */
export function shouldReportProgress(done: number, total: number): boolean {
  if (done === total) return true;
  const step = Math.max(1, Math.ceil(total / 10));
  return done % step === 0;
}

/** "1 connection" / "3 connections". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
