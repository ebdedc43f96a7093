// REFRESH_LEAD_MS and WORKER_CONCURRENCY are the lead and concurrency of providers that set none.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../worker/config/env.ts';
import { ProviderRegistry } from '../../worker/providers/registry.ts';

const file = (providers: Record<string, unknown>) => {
  const f = join(mkdtempSync(join(tmpdir(), 'ort-defaults-')), 'providers.json');
  writeFileSync(f, JSON.stringify({ providers }));
  return f;
};
const env = { API_KEY: 'k'.repeat(24), ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') };

describe('operator defaults for provider fields', () => {
  it.each([
    // [env, the custom provider's own fields, its expected lead (s) and concurrency, a built-in's]
    [{}, {}, { refreshLeadSec: 300, concurrency: 20 }, { refreshLeadSec: 300, concurrency: 20 }],
    [
      { REFRESH_LEAD_MS: '600000', WORKER_CONCURRENCY: '7' },
      {},
      { refreshLeadSec: 600, concurrency: 7 },
      { refreshLeadSec: 600, concurrency: 7 },
    ],
    [
      { REFRESH_LEAD_MS: '1500' },
      {},
      { refreshLeadSec: 1.5, concurrency: 20 },
      { refreshLeadSec: 1.5, concurrency: 20 },
    ],
    [
      { REFRESH_LEAD_MS: '600000', WORKER_CONCURRENCY: '7' },
      { refreshLeadSec: 60, concurrency: 3 },
      { refreshLeadSec: 60, concurrency: 3 },
      { refreshLeadSec: 600, concurrency: 7 },
    ],
  ])('env %j, provider %j -> %j (built-in: %j)', (vars, own, custom, builtin) => {
    const config = loadConfig({ ...env, ...vars });
    const r = ProviderRegistry.load({
      providersFile: file({ acme: { tokenUrl: 'https://a.test/t', clientId: 'id', clientSecret: 's', ...own } }),
      allowInsecure: false,
      env: {},
      defaults: { refreshLeadSec: config.refreshLeadMs / 1000, concurrency: config.workerConcurrency },
    });
    expect(r.get('acme')).toMatchObject(custom);
    // Built-ins define neither: they follow the operator too.
    expect(r.get('google')).toMatchObject(builtin);
  });
});
