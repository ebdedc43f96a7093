import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../worker/config/env.ts';
import { parseClusterNodes } from '../../worker/redis/connect.ts';
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
