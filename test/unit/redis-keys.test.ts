import { describe, expect, it } from 'vitest';
import { jobKeyOf, lockKey, namespaceOf, namespacePattern, queuePrefixFor } from '../../worker/redis/keys.ts';

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

  it.each([
    ['{oauth-refresher}', 'refresh-google', 'oauth-refresher:{refresh-google}'],
    ['oauth-refresher', 'refresh-google-3', 'oauth-refresher:{refresh-google-3}'],
    ['{ort-ci-42}', 'maintenance', 'ort-ci-42:{maintenance}'],
  ])("queue prefix of %s for %s is %s: the queue's name is its hash tag", (prefix, queue, want) => {
    expect(queuePrefixFor(prefix, queue)).toBe(want);
    const job = jobKeyOf(prefix, queue, 'c0ffee00-0000-4000-8000-000000000001');
    expect(job).toBe(`${want}:${queue}:c0ffee00-0000-4000-8000-000000000001`);
    expect(/\{([^}]*)\}/.exec(job)![1]).toBe(queue);
  });

  it('one pattern matches queue keys and lock keys of a namespace, not a longer namespace', () => {
    const pattern = namespacePattern('{ort-t-1}');
    expect(pattern).toBe('ort-t-1:*');
    const re = new RegExp(`^${pattern.replace('*', '.*')}$`);
    expect(re.test(jobKeyOf('{ort-t-1}', 'refresh-x', 'id'))).toBe(true);
    expect(re.test(lockKey('{ort-t-1}', 'id'))).toBe(true);
    expect(re.test(lockKey('{ort-t-10}', 'id'))).toBe(false);
    expect(namespacePattern('a*b')).toBe('a\\*b:*');
  });
});
