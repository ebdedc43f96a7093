// The refresh worker watchdog's rule (schedule/policy.ts isWorkerStuck): replace a worker only when
// a job is overdue, the worker has a free slot, and it started nothing for as long.
import { describe, expect, it } from 'vitest';
import { isWorkerStuck, type WorkerProgress } from '../../worker/schedule/policy.ts';

const NOW = 1_000_000;
const STUCK = 10_000;
const idle: WorkerProgress = { earliestDueAt: NOW - 20_000, inFlight: 0, concurrency: 4, lastStartAt: NOW - 20_000 };

describe('isWorkerStuck', () => {
  it.each<[string, Partial<WorkerProgress>, boolean]>([
    ['overdue job, free slot, nothing started: stuck', {}, true],
    ['nothing delayed', { earliestDueAt: null }, false],
    ['job due in the future', { earliestDueAt: NOW + 5_000 }, false],
    ['job overdue, but not for long', { earliestDueAt: NOW - 9_000 }, false],
    ['overdue exactly stuckMs: not yet', { earliestDueAt: NOW - STUCK }, false],
    ['every slot busy (a slow provider)', { inFlight: 4 }, false],
    ['a free slot left among busy ones', { inFlight: 3 }, true],
    ['started a job recently', { lastStartAt: NOW - 2_000 }, false],
    ['last start exactly stuckMs ago: not yet', { lastStartAt: NOW - STUCK }, false],
  ])('%s', (_name, over, stuck) => {
    expect(isWorkerStuck({ ...idle, ...over }, NOW, STUCK)).toBe(stuck);
  });
});
