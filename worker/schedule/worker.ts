// The BullMQ processor: run one refresh, then move the same job to its next planned time (or let
// it complete when that time is beyond the horizon; the feeder brings it back).
import { DelayedError, Worker, type Job } from 'bullmq';
import type { RedisClient } from '../redis/connect.ts';
import type { Logger } from 'pino';
import type { Refresher } from '../refresh/refresher.ts';
import type { RefreshOutcome } from '../refresh/outcome.ts';
import type { RefreshJobData } from './queues.ts';
import { queuePrefixFor } from '../redis/keys.ts';
import type { ShardLimits } from './policy.ts';
import type { ResolvedProvider } from '../providers/registry.ts';
import type { FaultHook } from '../interfaces.ts';

export interface WorkerSettings {
  /** Test hook (fault suite): called after a refresh, before the job is moved or acknowledged. */
  faultPoint?: FaultHook;
  /** QUEUE_PREFIX (the namespace; each queue's BullMQ prefix is derived from it: redis/keys.ts). */
  prefix: string;
  /** REFRESH_QUEUE_SHARDS. */
  shards: number;
  horizonMs: number;
  jobLockMs: number;
  stalledIntervalMs: number;
  /** Delay before re-checking a connection another process is refreshing right now. */
  busyRecheckMs: number;
  now?: () => number;
}

/** Where the job goes after an outcome (pure). null = complete the job (terminal or not scheduled). */
export function nextRunAt(out: RefreshOutcome, nowMs: number, busyRecheckMs: number): number | null {
  switch (out.outcome) {
    case 'rotated':
      return out.nextRefreshAt.getTime();
    case 'transient':
    case 'misconfigured':
      return out.retryAt.getTime();
    case 'lost_race':
      return out.nextRefreshAt?.getTime() ?? null;
    case 'needs_reauth':
      return null;
    case 'skipped':
      if (out.why === 'busy') return nowMs + busyRecheckMs;
      if (out.why === 'not_found' || out.why === 'not_active') return null;
      return out.nextRefreshAt?.getTime() ?? null;
  }
}

/** One shard queue of a provider, with its part of the provider's limits (policy.ts shardLimits). */
export interface ShardQueue {
  name: string;
  limits: ShardLimits;
}

/** What a refresh worker is doing, for the watchdog (policy.ts isWorkerStuck). */
export interface WorkerActivity {
  inFlight: number;
  lastStartAt: number;
}

const activities = new WeakMap<Worker, WorkerActivity>();

/** The activity of a worker made by createRefreshWorker. */
export function activityOf(w: Worker): WorkerActivity | undefined {
  return activities.get(w);
}

export function createRefreshWorker(
  provider: ResolvedProvider,
  shard: ShardQueue,
  connection: RedisClient,
  refresher: Refresher,
  log: Logger,
  s: WorkerSettings,
): Worker<RefreshJobData> {
  const now = s.now ?? Date.now;
  const activity: WorkerActivity = { inFlight: 0, lastStartAt: now() };
  const processor = async (job: Job<RefreshJobData>, token?: string) => {
    activity.inFlight++;
    activity.lastStartAt = now();
    try {
      return await refreshJob(job, token);
    } finally {
      activity.inFlight--;
    }
  };
  const refreshJob = async (job: Job<RefreshJobData>, token?: string) => {
    const { connectionId } = job.data;
    const trigger = job.data.trigger === 'feeder' ? 'scheduled' : job.data.trigger;
    let out: RefreshOutcome;
    try {
      // A scheduled refresh's plan is the row's nextRefreshAt (the refresher reads it); the job's
      // plannedAt is only authoritative for one-off triggers (replay, cron tick).
      out = await refresher.refresh(connectionId, {
        trigger,
        plannedAt: trigger === 'scheduled' ? undefined : job.data.plannedAt,
      });
    } catch (err) {
      // An outage (PostgreSQL or Redis down) or a bug: keep the job and look again shortly, rather
      // than failing it and waiting for the feeder.
      log.warn({ connectionId, provider: provider.key, err }, 'refresh could not run; retrying shortly');
      await job.moveToDelayed(now() + s.busyRecheckMs * 2 + Math.floor(Math.random() * s.busyRecheckMs * 2), token);
      throw new DelayedError();
    }
    await s.faultPoint?.('before_ack', { connectionId, provider: provider.key });
    const nowMs = now();
    const next = nextRunAt(out, nowMs, s.busyRecheckMs);
    if (next === null || next - nowMs > s.horizonMs) return out.outcome;
    // A one-off trigger becomes a plain scheduled refresh. Scheduled jobs keep their data as it is:
    // rewriting plannedAt on every cycle would cost a Redis round trip per refresh for nothing.
    if (job.data.trigger !== 'scheduled' && job.data.trigger !== 'feeder') {
      await job.updateData({ connectionId, trigger: 'scheduled', plannedAt: next });
    }
    await job.moveToDelayed(Math.max(next, nowMs), token);
    throw new DelayedError();
  };
  const worker = new Worker<RefreshJobData>(shard.name, processor, {
    connection,
    prefix: queuePrefixFor(s.prefix, shard.name),
    concurrency: shard.limits.concurrency,
    ...(shard.limits.limiter ? { limiter: shard.limits.limiter } : {}),
    lockDuration: s.jobLockMs,
    stalledInterval: s.stalledIntervalMs,
    // Processing is idempotent (lock + fence + due check), so a stalled job is always safe to rerun.
    maxStalledCount: 1_000_000,
    removeOnComplete: { count: 0 },
    removeOnFail: { count: 0 },
    autorun: false,
  });
  worker.on('failed', (job, err) => {
    log.error(
      { connectionId: job?.data.connectionId, provider: provider.key, err },
      'refresh job failed unexpectedly (bug or outage); the feeder will requeue it',
    );
  });
  worker.on('error', (err) => log.error({ provider: provider.key, err }, 'refresh worker error'));
  activities.set(worker, activity);
  return worker;
}
