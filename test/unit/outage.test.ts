import { describe, expect, it } from 'vitest';
import { isOutage } from '../../worker/util/outage.ts';

const err = (props: Record<string, unknown>, message = 'x') => Object.assign(new Error(message), props);

describe('isOutage', () => {
  it.each([
    ['ECONNREFUSED', err({ code: 'ECONNREFUSED' }), true],
    ['Prisma P1001', err({ code: 'P1001' }), true],
    ['pool timeout P2024', err({ code: 'P2024' }), true],
    ['admin shutdown 57P01 in cause', err({ cause: err({ code: '57P01' }) }), true],
    ['pg connection terminated', err({}, 'Connection terminated unexpectedly'), true],
    [
      'ioredis max retries',
      err({ name: 'MaxRetriesPerRequestError' }, 'Reached the max retries per request limit'),
      true,
    ],
    ['ioredis closed', err({}, 'Connection is closed.'), true],
    ['unique violation is a bug or input, not an outage', err({ code: 'P2002' }), false],
    ['TypeError', new TypeError('cannot read properties of undefined'), false],
    ['null', null, false],
  ])('%s', (_n, e, expected) => {
    expect(isOutage(e)).toBe(expected);
  });
});
