// The bearer check remembers headers that passed: it must never let a wrong key through, nor
// promote a read key to token scope, whatever was checked before.
import { describe, expect, it } from 'vitest';
import { ApiKeys } from '../../worker/api/auth.ts';

const TOKEN_KEY = 'tok-0123456789abcdef';
const READ_KEY = 'read-0123456789abcdef';

describe('ApiKeys.check', () => {
  const cases: { header: string | undefined; scope: 'token' | 'read' | null }[] = [
    { header: `Bearer ${TOKEN_KEY}`, scope: 'token' },
    { header: `bearer  ${TOKEN_KEY}`, scope: 'token' },
    { header: `Bearer ${READ_KEY}`, scope: 'read' },
    { header: `Bearer ${TOKEN_KEY}x`, scope: null },
    { header: `Bearer ${TOKEN_KEY.slice(0, -1)}`, scope: null },
    { header: `Bearer ${TOKEN_KEY.toUpperCase()}`, scope: null },
    { header: TOKEN_KEY, scope: null },
    { header: 'Bearer ', scope: null },
    { header: '', scope: null },
    { header: undefined, scope: null },
  ];

  it('answers the same on a first check and on every repeat, in any order', () => {
    const keys = new ApiKeys([
      { key: TOKEN_KEY, scope: 'token' },
      { key: READ_KEY, scope: 'read' },
    ]);
    for (let round = 0; round < 3; round++)
      for (const k of round === 1 ? [...cases].reverse() : cases)
        expect(keys.check(k.header), String(k.header)).toBe(k.scope);
  });

  it('stays bounded when a client sends many spellings of a good key, and still refuses bad ones', () => {
    const keys = new ApiKeys([{ key: TOKEN_KEY, scope: 'token' }]);
    for (let i = 1; i < 500; i++) expect(keys.check(`Bearer${' '.repeat(i)}${TOKEN_KEY}`)).toBe('token');
    expect(keys.check(`Bearer ${TOKEN_KEY}`)).toBe('token');
    expect(keys.check(`Bearer ${READ_KEY}`)).toBeNull();
    expect((keys as unknown as { passed: Map<string, unknown> }).passed.size).toBeLessThanOrEqual(64);
  });
});
