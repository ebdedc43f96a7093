// docs/configuration.md lists exactly the environment variables the code reads, and .env.example
// sets only variables that exist. The daemon's reads are found two ways: by tracing what
// loadConfig() touches (whatever shape env.ts takes), and by scanning worker/ for env reads
// (variables read outside loadConfig, e.g. the webhook tuning or the ops log level).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../worker/config/env.ts';
import { proseLines, read, ROOT } from './markdown.ts';

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
    .filter((p) => !p.startsWith('worker/generated/'));
}

const NAME = '[A-Z][A-Z0-9_]*';
/** Static reads: env.NAME, process.env.NAME, env['NAME'], and helpers called as f(env, 'NAME'). */
const STATIC_READS = [
  new RegExp(`\\benv\\.(${NAME})\\b`, 'g'),
  new RegExp(`\\benv\\[\\s*'(${NAME})'\\s*\\]`, 'g'),
  new RegExp(`\\(\\s*env\\s*,\\s*'(${NAME})'`, 'g'),
];
/** Names built at run time: env[`${x}_FILE`] and prefixes matched over the whole environment. */
const DYNAMIC_READS = [/\benv\[\s*`([^`]*)`\s*\]/g, new RegExp(`startsWith\\(\\s*'(${NAME}_)'\\s*\\)`, 'g')];

function staticReads(files: string[]): Set<string> {
  const out = new Set<string>();
  for (const f of files) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    for (const re of STATIC_READS) for (const m of text.matchAll(re)) out.add(m[1]);
  }
  return out;
}

/** A pattern's fixed text with every placeholder as `*`: `<NAME>_FILE` and `${name}_FILE` -> `*_FILE`. */
const shape = (p: string) => p.replace(/<[^>]+>|\$\{[^}]+\}/g, '*');

function dynamicReads(files: string[]): Set<string> {
  const out = new Set<string>();
  for (const f of files) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    for (const m of text.matchAll(DYNAMIC_READS[0])) out.add(shape(m[1]));
    for (const m of text.matchAll(DYNAMIC_READS[1])) out.add(`${m[1]}*`);
  }
  return out;
}

/** Every name loadConfig reads, with the optional branches taken (webhooks on). */
function tracedByLoadConfig(): Set<string> {
  const seen = new Set<string>();
  const base: Record<string, string> = {
    API_KEY: 'k'.repeat(32),
    ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
    WEBHOOK_URL: 'https://hooks.example.com/x',
    WEBHOOK_SECRET: `whsec_${Buffer.alloc(24, 1).toString('base64')}`,
  };
  const env = new Proxy(base, {
    get(t, k) {
      if (typeof k === 'string') seen.add(k);
      return typeof k === 'string' ? t[k] : undefined;
    },
    has(t, k) {
      if (typeof k === 'string') seen.add(k);
      return k in t;
    },
  });
  loadConfig(env);
  return seen;
}

/** Variable names in the first column of the tables of docs/configuration.md. */
function documented(): { names: Set<string>; patterns: Set<string> } {
  const names = new Set<string>();
  const patterns = new Set<string>();
  for (const { text } of proseLines(read('docs/configuration.md'))) {
    const m = /^\|\s*`([A-Z<][A-Za-z0-9_<>]*)`\s*\|/.exec(text);
    if (!m) continue;
    if (m[1].includes('<')) patterns.add(m[1]);
    else names.add(m[1]);
  }
  return { names, patterns };
}

const matchesPattern = (name: string, patterns: Iterable<string>) =>
  [...patterns].some((p) => new RegExp(`^${shape(p).split('*').join('[A-Z0-9_]+')}$`).test(name));

describe('docs/configuration.md against the code', () => {
  const worker = sources('worker');
  const everywhere = [...worker, ...sources('test'), ...sources('scripts')];
  const daemon = new Set([...staticReads(worker), ...tracedByLoadConfig()]);
  const readAnywhere = new Set([...daemon, ...staticReads(everywhere)]);
  const dynamic = dynamicReads(worker);
  const doc = documented();

  it('reads the code and the page', () => {
    // Guards against a scan that silently finds nothing.
    expect(daemon).toContain('DATABASE_URL');
    expect(daemon).toContain('WEBHOOK_TIMEOUT_MS');
    expect(dynamic).toContain('*_FILE');
    expect(doc.names.size).toBeGreaterThan(30);
  });

  it('documents every variable the daemon reads', () => {
    const missing = [...daemon].filter(
      (n) => /^[A-Z][A-Z0-9_]*$/.test(n) && !doc.names.has(n) && !matchesPattern(n, doc.patterns),
    );
    expect(missing, 'read by worker/ but not in docs/configuration.md').toEqual([]);
  });

  it('documents every name the daemon builds at run time as a pattern', () => {
    const docShapes = new Set([...doc.patterns].map(shape));
    expect(
      [...dynamic].filter((s) => !docShapes.has(s)),
      'patterns read by worker/ but not documented',
    ).toEqual([]);
  });

  it('documents no variable that nothing reads', () => {
    expect(
      [...doc.names].filter((n) => !readAnywhere.has(n)),
      'in docs/configuration.md but read by no code',
    ).toEqual([]);
  });

  it('documents no pattern that nothing builds', () => {
    const code = worker.map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n');
    const unused = [...doc.patterns].filter((p) => {
      if (dynamic.has(shape(p))) return false;
      // Per-provider names are built from the provider key and a suffix literal, e.g. 'CLIENT_ID'.
      const fixed = shape(p)
        .split('*')
        .map((s) => s.replace(/^_|_$/g, ''))
        .filter(Boolean);
      return !fixed.every((f) => new RegExp(`['"\`][^'"\`\\n]*\\b${f}\\b[^'"\`\\n]*['"\`]`).test(code));
    });
    expect(unused, 'patterns in docs/configuration.md that no code builds').toEqual([]);
  });
});

describe('.env.example', () => {
  it('sets only variables the code reads', () => {
    const worker = sources('worker');
    const known = new Set([...staticReads(worker), ...tracedByLoadConfig()]);
    const { patterns } = documented();
    const set = readFileSync(join(ROOT, '.env.example'), 'utf8')
      .split('\n')
      .map((l) => /^#?\s*([A-Z][A-Z0-9_]*)=/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined);
    expect(set.length).toBeGreaterThan(20);
    expect(
      set.filter((n) => !known.has(n) && !matchesPattern(n, patterns)),
      'set by .env.example but read by no code',
    ).toEqual([]);
  });
});
