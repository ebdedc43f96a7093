// Pure helpers of the ops commands: durations, tables, progress, argument errors.
import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  parseDuration,
  progressBar,
  relative,
  shouldReportProgress,
  table,
  truncate,
} from '../../worker/ops/format.ts';
import { durationFlag, intFlag, parseFlags, UsageError } from '../../worker/ops/args.ts';
import { bearerFrom } from '../../worker/dashboard/index.ts';
import { codeLabel } from '../../worker/metrics/index.ts';

describe('parseDuration', () => {
  it.each([
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['1w', 604_800_000],
    ['90s', 90_000],
    ['500ms', 500],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    [' 2H ', 7_200_000],
  ])('%s -> %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '2', 'h', '2x', '-1h', '0m', '2h foo', 'abc', '1h-30m'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

describe('formatDuration / relative', () => {
  it.each([
    [850, '850 ms'],
    [42_000, '42 s'],
    [12 * 60_000, '12 min'],
    [3 * 3_600_000, '3 h'],
    [3 * 3_600_000 + 5 * 60_000, '3 h 5 min'],
    [4 * 86_400_000 + 2 * 3_600_000, '4 d 2 h'],
    [-90_000, '2 min'],
  ])('%i ms -> %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('says ago / in / now / -', () => {
    const now = Date.parse('2026-11-22T00:00:00Z');
    expect(relative(new Date(now - 5 * 60_000), now)).toBe('5 min ago');
    expect(relative(new Date(now + 3_600_000), now)).toBe('in 1 h');
    expect(relative(new Date(now + 200), now)).toBe('now');
    expect(relative(null, now)).toBe('-');
  });
});

describe('table', () => {
  it('pads columns, right-aligns numeric ones, draws a rule and shows null as -', () => {
    const lines = table(
      ['NAME', 'COUNT', 'NOTE'],
      [
        ['acme', 5, 'x'],
        ['salesforce', 12, null],
      ],
    );
    expect(lines).toEqual([
      'NAME        COUNT  NOTE',
      '----------  -----  ----',
      'acme            5  x',
      'salesforce     12  -',
    ]);
  });

  it('keeps the header when there are no rows', () => {
    expect(table(['A', 'B'], [])).toEqual(['A  B', '-  -']);
  });

  it('truncates with an ellipsis', () => {
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abc', 4)).toBe('abc');
  });
});

describe('progress', () => {
  it.each([
    [0, 10, '[----------]  0/10   0%'],
    [5, 10, '[#####-----]  5/10  50%'],
    [10, 10, '[##########] 10/10 100%'],
    [0, 0, '[##########] 0/0 100%'],
  ])('%i of %i', (done, total, bar) => {
    expect(progressBar(done, total, 10)).toBe(bar);
  });

  it('reports about every 10% and always the last item', () => {
    const reported = Array.from({ length: 25 }, (_v, i) => i + 1).filter((n) => shouldReportProgress(n, 25));
    expect(reported).toEqual([3, 6, 9, 12, 15, 18, 21, 24, 25]);
    expect([1, 2, 3].filter((n) => shouldReportProgress(n, 3))).toEqual([1, 2, 3]);
  });
});

describe('flags', () => {
  it('parses known flags and positionals', () => {
    const { flags, positionals } = parseFlags(['abc', '--provider', 'acme', '--dry-run'], {
      provider: { type: 'string' },
      'dry-run': { type: 'boolean' },
    });
    expect(positionals).toEqual(['abc']);
    expect(flags.provider).toBe('acme');
    expect(flags['dry-run']).toBe(true);
  });

  it.each([
    [() => parseFlags(['--nope'], {}), /Unknown option '--nope'/],
    [() => durationFlag('2 hours', 'since', 1), /--since must be a duration like 30m, 2h/],
    [() => intFlag('0', 'limit'), /--limit must be a whole number from 1/],
    [() => intFlag('ten', 'limit'), /--limit must be a whole number/],
  ])('usage error %#', (fn, msg) => {
    expect(fn).toThrow(UsageError);
    expect(fn).toThrow(msg);
  });

  it('durationFlag falls back to the default', () => {
    expect(durationFlag(undefined, 'since', 123)).toBe(123);
    expect(durationFlag('2h', 'since', 123)).toBe(7_200_000);
  });
});

describe('dashboard auth header', () => {
  const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  it.each([
    ['Bearer abc', 'Bearer abc'],
    [basic('ops:the-key-123'), 'Bearer the-key-123'],
    [basic(':the-key-123'), 'Bearer the-key-123'],
    [basic('ops:pa:ss'), 'Bearer pa:ss'],
    [basic('ops:'), undefined],
    ['Digest x', undefined],
    [undefined, undefined],
  ])('%j -> %j', (header, expected) => {
    expect(bearerFrom(header)).toBe(expected);
  });
});

describe('metrics error-code label', () => {
  it.each([
    ['invalid_grant', 'invalid_grant'],
    ['http_503', 'http_503'],
    [undefined, 'none'],
    ['has spaces in it', 'other'],
    ['x'.repeat(41), 'other'],
  ])('%j -> %s', (code, label) => {
    expect(codeLabel(code)).toBe(label);
  });
});
