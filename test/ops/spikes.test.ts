import { describe, expect, it } from 'vitest';
import { detectSpikes } from '../../worker/ops/spikes.ts';

const m = (o: Record<string, number>) => new Map(Object.entries(o));

describe('detectSpikes (invalid_grant, current vs previous period)', () => {
  it.each([
    ['from nothing to 3 is a spike', { a: 3 }, {}, [{ group: 'a', current: 3, previous: 0, factor: 3 }]],
    ['below the minimum is noise', { a: 2 }, {}, []],
    ['steady is no spike', { a: 10 }, { a: 9 }, []],
    ['3x the previous period is a spike', { a: 12 }, { a: 4 }, [{ group: 'a', current: 12, previous: 4, factor: 3 }]],
    ['just under 3x is not', { a: 11 }, { a: 4 }, []],
    ['a drop is not', { a: 1 }, { a: 50 }, []],
    [
      'sorted by size',
      { a: 3, b: 9 },
      {},
      [
        { group: 'b', current: 9, previous: 0, factor: 9 },
        { group: 'a', current: 3, previous: 0, factor: 3 },
      ],
    ],
  ])('%s', (_name, cur, prev, expected) => {
    expect(detectSpikes(m(cur), m(prev))).toEqual(expected);
  });

  it('honours custom thresholds', () => {
    expect(detectSpikes(m({ a: 2 }), m({ a: 1 }), { minCount: 1, ratio: 2 })).toHaveLength(1);
  });
});
