// SingleFlight: concurrent callers of one key share one call; the key is free again once it settles.
import { describe, expect, it } from 'vitest';
import { SingleFlight } from '../../worker/util/single-flight.ts';

describe('SingleFlight', () => {
  it('shares one call among concurrent callers of a key, not across keys', async () => {
    const sf = new SingleFlight<number>();
    let calls = 0;
    const slow = () => new Promise<number>((r) => setTimeout(() => r(++calls), 10));
    const got = await Promise.all([sf.run('a', slow), sf.run('a', slow), sf.run('b', slow)]);
    expect(calls).toBe(2);
    expect(got[0]).toBe(got[1]);
    expect(got[2]).not.toBe(got[0]);
  });

  it('frees the key after a success and after a failure', async () => {
    const sf = new SingleFlight<string>();
    await expect(sf.run('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await sf.run('k', async () => 'second')).toBe('second');
    expect(await sf.run('k', async () => 'third')).toBe('third');
  });
});
