import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../worker/config/env.ts';
import { clusterOptions, parseClusterNodes, singleOptions } from '../../worker/redis/connect.ts';
import { testEnv } from '../helpers/harness.ts';

describe('REDIS_CLUSTER_NODES', () => {
  it.each([
    [
      '10.0.0.1:6379,10.0.0.2:6380',
      [
        { host: '10.0.0.1', port: 6379 },
        { host: '10.0.0.2', port: 6380 },
      ],
    ],
    [' redis-a:7000 , ', [{ host: 'redis-a', port: 7000 }]],
    ['[::1]:7000', [{ host: '::1', port: 7000 }]],
    ['redis-a', 'must be host:port[,host:port...], got "redis-a"'],
    ['redis-a:0', 'must be host:port[,host:port...], got "redis-a:0"'],
    [',', 'must name at least one host:port'],
  ])('%s', (raw, want) => expect(parseClusterNodes(raw)).toEqual(want));

  it('selects the cluster and ignores REDIS_URL; a bad value fails at start naming the variable', () => {
    const c = loadConfig(testEnv({ REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001' }));
    expect(c.redis).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '127.0.0.1', port: 7000 },
        { host: '127.0.0.1', port: 7001 },
      ],
    });
    expect(loadConfig(testEnv()).redis.kind).toBe('single');
    expect(() => loadConfig(testEnv({ REDIS_CLUSTER_NODES: 'nope' }))).toThrow(ConfigError);
    expect(() => loadConfig(testEnv({ REDIS_CLUSTER_NODES: 'nope' }))).toThrow(/^REDIS_CLUSTER_NODES: /);
  });
});

describe('REDIS_USERNAME, REDIS_PASSWORD, REDIS_TLS', () => {
  const nodes = '127.0.0.1:7000';
  it.each([
    ['none set: no auth, no TLS', {}, undefined],
    ['password alone', { REDIS_PASSWORD: 'pw' }, { username: undefined, password: 'pw', tls: false }],
    ['ACL user', { REDIS_USERNAME: 'app', REDIS_PASSWORD: 'pw' }, { username: 'app', password: 'pw', tls: false }],
    ['TLS alone', { REDIS_TLS: 'true' }, { username: undefined, password: undefined, tls: true }],
  ])('%s', (_name, env, want) => {
    expect(loadConfig(testEnv({ REDIS_CLUSTER_NODES: nodes, ...env })).redis.auth).toEqual(want);
    expect(loadConfig(testEnv(env)).redis.auth).toEqual(want);
  });

  it('reads the password from REDIS_PASSWORD_FILE; bad values fail at start naming the variable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ort-redis-pw-'));
    writeFileSync(join(dir, 'pw'), 'from-file\n');
    expect(loadConfig(testEnv({ REDIS_PASSWORD_FILE: join(dir, 'pw') })).redis.auth?.password).toBe('from-file');
    expect(() => loadConfig(testEnv({ REDIS_TLS: 'maybe' }))).toThrow(/^REDIS_TLS: /);
    expect(() => loadConfig(testEnv({ REDIS_USERNAME: 'app' }))).toThrow(/^REDIS_USERNAME: /);
    expect(() => loadConfig(testEnv({ REDIS_PASSWORD_FILE: join(dir, 'missing') }))).toThrow(/^REDIS_PASSWORD_FILE: /);
  });

  it('every cluster node gets the credentials and TLS, with host names kept for the certificates', () => {
    const auth = { username: 'app', password: 'pw', tls: true };
    const o = clusterOptions({ kind: 'cluster', nodes: [{ host: 'a', port: 1 }], auth }, { role: 'queue' });
    expect(o.redisOptions).toMatchObject({ username: 'app', password: 'pw', tls: {}, maxRetriesPerRequest: null });
    const looked: string[] = [];
    o.dnsLookup!('node-1.example.com', (_e, a) => looked.push(a));
    expect(looked).toEqual(['node-1.example.com']);
    const plain = clusterOptions({ kind: 'cluster', nodes: [{ host: 'a', port: 1 }] }, { role: 'general' });
    expect(plain.redisOptions).not.toHaveProperty('password');
    expect(plain.redisOptions).not.toHaveProperty('tls');
    expect(plain.dnsLookup).toBeUndefined();
    expect(plain.redisOptions?.maxRetriesPerRequest).toBe(3);
  });

  it("one node: the options fill in what the URL does not say (ioredis lets the URL's own values win)", () => {
    const o = singleOptions(
      { kind: 'single', url: 'redis://127.0.0.1:6379', auth: { password: 'pw', tls: true } },
      { role: 'general', autoPipelining: true },
    );
    expect(o).toMatchObject({ password: 'pw', tls: {}, enableAutoPipelining: true, maxRetriesPerRequest: 3 });
  });
});
