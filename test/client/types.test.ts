// The client's types are generated from the committed OpenAPI document: this fails when
// client/src/generated/openapi.ts is not what openapi-typescript makes of docs/openapi.json now
// (after a route's schema changed, `npm run openapi` refreshes both).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
// The package's exports hide its bin; this is the file `npm run client:types` runs.
const cli = path.join(root, 'node_modules/openapi-typescript/bin/cli.js');

function check(output: string) {
  return spawnSync(process.execPath, [cli, 'docs/openapi.json', '-o', output, '--check'], {
    cwd: root,
    encoding: 'utf8',
  });
}

describe('client/src/generated/openapi.ts', () => {
  it('is what `npm run client:types` generates from docs/openapi.json', () => {
    const r = check('client/src/generated/openapi.ts');
    expect(r.status, `${r.stdout}${r.stderr}\nrun \`npm run openapi\` and commit the result`).toBe(0);
  });

  it('the check fails on a stale copy', () => {
    // A file that differs (the document itself) must not pass: the check is not vacuous.
    expect(check('docs/openapi.json').status).not.toBe(0);
  });
});
