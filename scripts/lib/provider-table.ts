// Renders the built-in provider table of docs/providers.md from the definitions themselves, so the
// doc cannot drift from worker/providers/builtin.ts (test/docs/providers-table.test.ts checks it).
import { ProviderRegistry, type ResolvedProvider } from '../../worker/providers/registry.ts';
import type { OldTokenGrace } from '../../worker/providers/types.ts';

export const TABLE_START = '<!-- providers:start -->';
export const TABLE_END = '<!-- providers:end -->';

/** The built-ins only: no PROVIDERS_FILE, an empty environment (no REFRESH_CRON_* overrides). */
export function builtinDefinitions(): ResolvedProvider[] {
  return ProviderRegistry.load({ env: {}, allowInsecure: false }).all();
}

function seconds(s: number): string {
  for (const [unit, n] of [
    ['d', 86400],
    ['h', 3600],
    ['min', 60],
  ] as const)
    if (s >= n && s % n === 0) return `${s / n} ${unit}`;
  return `${s} s`;
}

// A table cell: pipes escaped, no line breaks.
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
const code = (text: string) => `\`${text}\``;

function grace(g: OldTokenGrace): string {
  if (g.kind === 'seconds') return `old reusable ${seconds(g.seconds)}`;
  if (g.kind === 'until_used') return 'old valid until the new one is used';
  if (g.kind === 'not_revoked') return 'old not revoked';
  return 'no grace';
}

function expiry(p: ResolvedProvider): string {
  const e = p.expiry;
  const parts = [
    e.source === 'none' ? `none (${seconds(e.defaultLifetimeSec ?? 0)} assumed)` : code(e.field ?? e.source),
  ];
  if (e.cron) parts.push(`cron ${code(e.cron)}`);
  if (p.refreshExpiresInField) parts.push(`refresh token: ${code(p.refreshExpiresInField)}`);
  return parts.join('; ');
}

function row(p: ResolvedProvider): string[] {
  return [
    code(p.key),
    p.displayName,
    code(p.tokenUrl),
    `${p.clientAuth}, ${p.paramsIn}`,
    expiry(p),
    `${p.rotation}; ${grace(p.oldTokenGrace)}`,
    p.idleLifetimeSec ? seconds(p.idleLifetimeSec) : '-',
    p.tokenCapPerUser ? String(p.tokenCapPerUser) : '-',
    p.org ? p.org.name : '-',
    p.notes ?? '',
  ].map(cell);
}

export function renderProviderTable(providers: ResolvedProvider[]): string {
  const head = [
    'key',
    'name',
    'token URL',
    'client auth, params',
    'expiry',
    'rotation; old token',
    'idle limit',
    'tokens per user',
    'org',
    'notes',
  ];
  const lines = [head, head.map(() => '---'), ...providers.map(row)].map((cells) => `| ${cells.join(' | ')} |`);
  return lines.join('\n');
}

/** The document with the text between the markers replaced by the table. */
export function withProviderTable(doc: string, table: string): string {
  const start = doc.indexOf(TABLE_START);
  const end = doc.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`the document needs the markers ${TABLE_START} and ${TABLE_END}`);
  return `${doc.slice(0, start + TABLE_START.length)}\n${table}\n${doc.slice(end)}`;
}
