// `npm run docs:providers`: rewrites the built-in provider table of docs/providers.md from the
// definitions. `--check` only reports whether the committed table is stale (exit 1).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { builtinDefinitions, renderProviderTable, withProviderTable } from './lib/provider-table.ts';

const DOC = fileURLToPath(new URL('../docs/providers.md', import.meta.url));

const doc = readFileSync(DOC, 'utf8');
const next = withProviderTable(doc, renderProviderTable(builtinDefinitions()));
if (process.argv.includes('--check')) {
  console.log(
    next === doc
      ? 'docs/providers.md: the provider table is up to date'
      : 'docs/providers.md: the provider table is stale; run npm run docs:providers',
  );
  process.exit(next === doc ? 0 : 1);
}
if (next !== doc) writeFileSync(DOC, next);
console.log(next === doc ? 'docs/providers.md: unchanged' : 'docs/providers.md: provider table rewritten');
