import { describe, expect, it } from 'vitest';
import { ConfigError, configWarnings, loadConfig } from '../../worker/config/env.ts';
import { ProviderRegistry, ProviderConfigError } from '../../worker/providers/registry.ts';
import { writeProvidersFile } from '../helpers/harness.ts';

const good = {
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/x',
  API_KEY: 'k'.repeat(32),
  ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
};

describe('loadConfig fails fast naming the variable', () => {
  it.each([
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ API_KEY: undefined }, 'API_KEY'],
    [{ API_KEY: '' }, 'API_KEY'],
    [{ ENCRYPTION_KEY: undefined }, 'ENCRYPTION_KEY'],
    [{ ENCRYPTION_KEY: Buffer.alloc(16).toString('base64') }, 'ENCRYPTION_KEY'],
    [{ ENCRYPTION_KEY: 'short-passphrase' }, 'ENCRYPTION_KEY'],
    [
      {
        ENCRYPTION_KEY: undefined,
        ENCRYPTION_KEYS: 'a:' + Buffer.alloc(32).toString('base64') + ',a:' + Buffer.alloc(32).toString('base64'),
      },
      'ENCRYPTION_KEYS',
    ],
    [{ PORT: 'eighty' }, 'PORT'],
    [{ REQUEST_TIMEOUT_MS: '10000', LOCK_TTL_MS: '5000' }, 'LOCK_TTL_MS'],
    [{ ROLES: 'api,cook' }, 'ROLES'],
    [{ WEBHOOK_URL: 'https://hooks.example.com/x' }, 'WEBHOOK_SECRET'],
    [{ ALLOW_INSECURE_TOKEN_URLS: 'maybe' }, 'ALLOW_INSECURE_TOKEN_URLS'],
    [{ OUTAGE_MIN_CONNECTIONS: '0' }, 'OUTAGE_MIN_CONNECTIONS'],
    [{ OUTAGE_WINDOW_MS: 'ten' }, 'OUTAGE_WINDOW_MS'],
    [{ OUTAGE_PROBE_BASE_MS: '2000', OUTAGE_PROBE_MAX_MS: '1000' }, 'OUTAGE_PROBE_MAX_MS'],
    [{ OUTAGE_RELEASE_SPREAD_MS: '-1' }, 'OUTAGE_RELEASE_SPREAD_MS'],
    [{ REFRESH_QUEUE_SHARDS: '0' }, 'REFRESH_QUEUE_SHARDS'],
    [{ REFRESH_QUEUE_SHARDS: '65' }, 'REFRESH_QUEUE_SHARDS'],
    [{ REFRESH_QUEUE_SHARDS: 'eight' }, 'REFRESH_QUEUE_SHARDS'],
  ])('%j -> %s', (over, variable) => {
    const env = { ...good, ...over } as Record<string, string | undefined>;
    try {
      loadConfig(env);
      expect.unreachable('should have thrown');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).variable).toBe(variable);
      expect((e as Error).message).not.toContain(good.API_KEY);
    }
  });
  it.each([
    ['base64', Buffer.alloc(32, 3).toString('base64'), false],
    ['hex', 'ab'.repeat(32), false],
    ['passphrase (derived, with a warning)', 'correct horse battery staple, long enough!', true],
  ])('ENCRYPTION_KEY as %s', (_n, key, warns) => {
    const c = loadConfig({ ...good, ENCRYPTION_KEY: key });
    expect(c.encryptionKeys[0].key.length).toBe(32);
    expect(configWarnings.some((w) => w.includes('passphrase'))).toBe(warns);
  });
  it('a short API key is accepted with a warning; DATABASE_URL has a local default', () => {
    const c = loadConfig({ ...good, API_KEY: 'short', DATABASE_URL: undefined });
    expect(c.apiKeys[0].key).toBe('short');
    expect(configWarnings.some((w) => w.includes('API_KEY'))).toBe(true);
    expect(c.databaseUrl).toBe('postgresql://postgres@127.0.0.1:5432/oauth_refresher');
  });
  it('accepts a good configuration with defaults', () => {
    const c = loadConfig(good);
    expect(c.port).toBe(3000);
    expect(c.refreshQueueShards).toBe(1);
    expect(loadConfig({ ...good, REFRESH_QUEUE_SHARDS: '64' }).refreshQueueShards).toBe(64);
    expect(c.encryptionKeys[0].id).toBe('k1');
    expect([...c.roles].sort()).toEqual(['api', 'scheduler', 'worker']);
  });

  it('METRICS_PORT: the API port with the api role, else 9464; 0 turns metrics off', () => {
    expect(loadConfig(good).metrics).toEqual({ kind: 'api' });
    expect(loadConfig({ ...good, ROLES: 'worker' }).metrics).toEqual({ kind: 'port', port: 9464 });
    expect(loadConfig({ ...good, ROLES: 'scheduler', METRICS_PORT: '9100' }).metrics).toEqual({
      kind: 'port',
      port: 9100,
    });
    expect(loadConfig({ ...good, METRICS_PORT: '9100' }).metrics).toEqual({ kind: 'port', port: 9100 });
    expect(loadConfig({ ...good, PORT: '8080', METRICS_PORT: '8080' }).metrics).toEqual({ kind: 'api' });
    expect(loadConfig({ ...good, ROLES: 'worker', METRICS_PORT: '0' }).metrics).toEqual({ kind: 'off' });
    expect(() => loadConfig({ ...good, METRICS_PORT: 'x' })).toThrow(/METRICS_PORT/);
  });
});

describe('providers file validation names provider and field', () => {
  it.each([
    [{ acme: { tokenUrl: 'http://auth.acme.com/t', clientId: 'a', clientSecret: 'b' } }, 'acme', 'tokenUrl'],
    [{ acme: { clientId: 'a', clientSecret: 'b' } }, 'acme', 'tokenUrl'],
    [
      { acme: { tokenUrl: 'https://a/t', clientAuth: 'magic', clientId: 'a', clientSecret: 'b' } },
      'acme',
      'clientAuth',
    ],
    [
      { acme: { tokenUrl: 'https://a/t', rotation: 'sometimes', clientId: 'a', clientSecret: 'b' } },
      'acme',
      'rotation',
    ],
    [{ acme: { tokenUrl: 'https://a/t', clientId: '${NOPE_NOT_SET_ID}', clientSecret: 'b' } }, 'acme', 'clientId'],
    [{ 'Bad Key': { tokenUrl: 'https://a/t' } }, 'Bad Key', 'key'],
    [
      { acme: { tokenUrl: 'https://a/t', clientId: 'a', clientSecret: 'b', headers: { 'X Tenant': 't1' } } },
      'acme',
      'headers.X Tenant',
    ],
    [
      { acme: { tokenUrl: 'https://a/t', clientId: 'a', clientSecret: 'b', headers: { 'X-A\r\nX-B': 'v' } } },
      'acme',
      'headers.X-A\r\nX-B',
    ],
  ])('%j', (providers, provider, field) => {
    const file = writeProvidersFile(providers);
    try {
      ProviderRegistry.load({ providersFile: file, allowInsecure: false, env: {} });
      expect.unreachable('should have thrown');
    } catch (e) {
      expect(e).toBeInstanceOf(ProviderConfigError);
      expect((e as ProviderConfigError).provider).toBe(provider);
      expect((e as ProviderConfigError).field).toBe(field);
    }
  });
  it('substitutes ${ENV} and lets a file override a built-in field', () => {
    const file = writeProvidersFile({
      gong: { tokenUrl: 'http://127.0.0.1:9/t' },
      acme: { tokenUrl: 'https://a/t', clientId: '${ACME_ID}', clientSecret: '${ACME_SECRET}' },
    });
    const reg = ProviderRegistry.load({
      providersFile: file,
      allowInsecure: true,
      env: { ACME_ID: 'id1', ACME_SECRET: 's1', GONG_CLIENT_ID: 'g', GONG_CLIENT_SECRET: 'gs' },
    });
    expect(reg.get('acme')).toMatchObject({ clientId: 'id1', clientSecret: 's1', configured: true });
    expect(reg.get('gong')).toMatchObject({
      tokenUrl: 'http://127.0.0.1:9/t',
      paramsIn: 'query',
      clientAuth: 'basic',
      configured: true,
    });
  });
});
