// docs/providers.md carries the built-in provider table generated from the definitions: a change to
// worker/providers/builtin.ts without `npm run docs:providers` fails here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  builtinDefinitions,
  renderProviderTable,
  TABLE_END,
  TABLE_START,
  withProviderTable,
} from '../../scripts/lib/provider-table.ts';

const DOC = new URL('../../docs/providers.md', import.meta.url);

describe('docs/providers.md provider table', () => {
  it('is what npm run docs:providers generates from the built-in definitions', () => {
    const doc = readFileSync(DOC, 'utf8');
    const fresh = withProviderTable(doc, renderProviderTable(builtinDefinitions()));
    expect(doc, 'the committed provider table is stale: run npm run docs:providers').toBe(fresh);
  });

  it('lists every built-in, one row each, pipes in URL templates escaped', () => {
    const table = renderProviderTable(builtinDefinitions());
    for (const p of builtinDefinitions()) expect(table).toContain(`| \`${p.key}\` |`);
    expect(table).toContain('{tenant\\|common}');
    expect(table.split('\n')).toHaveLength(builtinDefinitions().length + 2);
  });

  it('replaces only the text between the markers', () => {
    const doc = `before\n${TABLE_START}\nold\n${TABLE_END}\nafter\n`;
    expect(withProviderTable(doc, 'new')).toBe(`before\n${TABLE_START}\nnew\n${TABLE_END}\nafter\n`);
    expect(() => withProviderTable('no markers', 'new')).toThrow(/markers/);
  });
});
