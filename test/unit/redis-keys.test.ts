import { describe, expect, it } from 'vitest';
import { lockKey, namespaceOf } from '../../worker/redis/keys.ts';

describe('redis key layout', () => {
  it.each([
    ['{oauth-refresher}', 'oauth-refresher'],
    ['oauth-refresher', 'oauth-refresher'],
    ['{ort-ci-42}', 'ort-ci-42'],
  ])('namespace of %s is %s', (prefix, ns) => expect(namespaceOf(prefix)).toBe(ns));

  it("a lock key's hash tag is the connection id (its own slot), not the queue prefix", () => {
    const key = lockKey('{oauth-refresher}', 'c0ffee00-0000-4000-8000-000000000001');
    expect(key).toBe('oauth-refresher:lock:{c0ffee00-0000-4000-8000-000000000001}');
    // Redis Cluster hashes the first {...} only.
    expect(/\{([^}]*)\}/.exec(key)![1]).toBe('c0ffee00-0000-4000-8000-000000000001');
  });
});
