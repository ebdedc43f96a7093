// Every relative link in README.md and docs/*.md reaches a file that exists, and every #anchor a
// heading of that file (GitHub's slugs), so moving or renaming a page cannot leave dead links.
import { existsSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { docFiles, links, read, ROOT, slugs } from './markdown.ts';

const external = (t: string) => /^[a-z][a-z0-9+.-]*:/i.test(t) || t.startsWith('//');

function problems(file: string): string[] {
  const out: string[] = [];
  for (const { line, target } of links(read(file))) {
    if (external(target)) continue;
    const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
    const rel =
      pathPart === '' ? file : normalize(relative(ROOT, join(ROOT, dirname(file), decodeURIComponent(pathPart))));
    const where = `${file}:${line} -> ${target}`;
    if (rel.startsWith('..')) {
      out.push(`${where}: leaves the repository`);
      continue;
    }
    if (!existsSync(join(ROOT, rel))) {
      out.push(`${where}: ${rel} does not exist`);
      continue;
    }
    if (anchor === undefined || anchor === '') continue;
    if (!rel.endsWith('.md') || statSync(join(ROOT, rel)).isDirectory()) {
      out.push(`${where}: an anchor into a file that is not Markdown`);
      continue;
    }
    if (!slugs(read(rel)).has(decodeURIComponent(anchor))) out.push(`${where}: no heading "#${anchor}" in ${rel}`);
  }
  return out;
}

describe('relative links in README.md and docs/', () => {
  const files = docFiles();

  it('finds the pages and their links', () => {
    expect(files).toContain('README.md');
    expect(files.length).toBeGreaterThan(5);
    const count = files.reduce((n, f) => n + links(read(f)).filter((l) => !external(l.target)).length, 0);
    expect(count).toBeGreaterThan(50);
  });

  it.each(files)('%s: every relative link and anchor resolves', (file) => {
    expect(problems(file)).toEqual([]);
  });
});

describe('the slug and link reader', () => {
  it('makes GitHub slugs', () => {
    const s = slugs(
      '# Crash safety: the chaos suite\n## 1. What is failing, and where?\n## `PROVIDERS_FILE` format\n## A\n## A\n```\n# not a heading\n```\n',
    );
    expect([...s]).toEqual([
      'crash-safety-the-chaos-suite',
      '1-what-is-failing-and-where',
      'providers_file-format',
      'a',
      'a-1',
    ]);
  });

  it('skips code blocks and code spans', () => {
    const l = links('[a](x.md) `[b](y.md)`\n```\n[c](z.md)\n```\n[d]: w.md\n');
    expect(l.map((x) => x.target)).toEqual(['x.md', 'w.md']);
  });
});
