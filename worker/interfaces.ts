// Contracts shared by more than one folder of worker/. This module sits at the bottom: it holds
// types (and the list of fault points) and imports only types, from modules that never import it
// back (config, store/db, crypto/keyring, the provider registry, the refresh outcome, the Prisma
// client). Import it; never make it import a module that imports it.
//
// Glossary (three words mean three things each here; the names in the code say which):
//   worker/            the source root of the daemon (every process runs the same code).
//   worker role        ROLES=worker: a process that takes refresh jobs off the queues.
//   refresh worker     a BullMQ `Worker` processing one provider's refresh queue
//                      (schedule/worker.ts createRefreshWorker); the "maintenance worker" and the
//                      "cron worker" are BullMQ Workers for the feeder and cron ticks.
//   scheduler role     ROLES=scheduler: a process that runs the feeder and the cron fan-out.
//   feeder             the `Scheduler` class (schedule/scheduler.ts): pages PostgreSQL and puts
//                      connections that are due within the horizon on their refresh queue.
//   job scheduler      BullMQ's repeatable-job scheduler (upsertJobScheduler): one "feeder" tick
//                      per FEEDER_INTERVAL_MS and one "cron:<provider>" tick per cron pattern,
//                      across all processes.
//   extension          a concern plugged into the daemon's lifecycle (breaker, metrics, webhooks,
//                      cron, dashboard, key check); it receives the narrow `ExtensionHost` parts it
//                      uses, never the Daemon.
import type { JobType, Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RedisClient } from './redis/connect.ts';
import type { Logger } from 'pino';
import type { Config } from './config/env.ts';
import type { Keyring } from './crypto/keyring.ts';
import type { RefreshTrigger } from './generated/prisma/client.ts';
import type { ProviderRegistry } from './providers/registry.ts';
import type { RefreshOutcome } from './refresh/outcome.ts';
import type { Db } from './store/db.ts';

// ----- refresh triggers ---------------------------------------------------------------------------

/** Every trigger must be a value of the database enum (RefreshAttempt.trigger): checked here. */
type DbTrigger<T extends RefreshTrigger> = T;

/** Why a refresh was attempted (recorded with each attempt, a metrics label). */
export type Trigger = DbTrigger<'scheduled' | 'on_demand' | 'forced' | 'replay' | 'feeder' | 'cron'>;

/** The triggers a queued refresh job carries (on_demand and forced refreshes never go through a queue). */
export type QueuedTrigger = Exclude<Trigger, 'on_demand' | 'forced'>;

/** The data of one refresh job on a provider's refresh queue (job id = connection id). */
export interface RefreshJobData {
  connectionId: string;
  trigger: QueuedTrigger;
  /** Planned start (ms since epoch), to measure lateness. */
  plannedAt: number;
}

// ----- fault points (the chaos suite's hooks; test/chaos/faults.ts) -------------------------------

export type FaultPoint = 'before_call' | 'after_answer' | 'after_commit' | 'before_ack';
export const FAULT_POINTS: readonly FaultPoint[] = ['before_call', 'after_answer', 'after_commit', 'before_ack'];

/** Called at the chosen points of a refresh (a test hook: kills or freezes the process there). */
export type FaultHook = (point: FaultPoint, ctx?: { connectionId: string; provider: string }) => void | Promise<void>;

// ----- the provider gate (gate/breaker.ts) --------------------------------------------------------

/** What the gate reads of a provider: read live, since a reload changes definitions in place. */
export interface GatedProvider {
  readonly key: string;
  readonly concurrency: number;
  readonly ratePerSecond: number;
  readonly credentialsFingerprint: string;
}

/** Gate in front of each provider's token endpoint (credential breaker, concurrency, rate). */
export interface ProviderGate {
  /** May this connection call the provider now? Open breakers let one probe through per interval. */
  admit(provider: GatedProvider, connectionId: string): Promise<boolean>;
  /** Runs the token request inside the provider's concurrency and rate limits. */
  run<T>(provider: GatedProvider, fn: () => Promise<T>): Promise<T>;
  /** Tells the gate how the provider answered (opens/closes the credential breaker). */
  report(
    provider: GatedProvider,
    result: 'ok' | 'credentials' | 'other',
    detail?: { code: string; description: string },
  ): Promise<void>;
  /** Provider-wide outage hold: may this connection call now, or wait until `until` (ms)? */
  hold?(provider: GatedProvider, connectionId: string): Promise<{ kind: 'pass' } | { kind: 'wait'; until: number }>;
  /** Notes a transient failure; returns where the connection retries when the provider is holding. */
  transient?(
    provider: GatedProvider,
    connectionId: string,
    ownBackoffMs: number,
  ): Promise<{ retryAt: number; countsAsFailure: boolean }>;
}

// ----- attempts -----------------------------------------------------------------------------------

/** One finished refresh attempt, as observers (metrics) see it. */
export interface AttemptEvent {
  provider: string;
  trigger: Trigger;
  outcome: RefreshOutcome;
  durationMs: number;
  commitWindowUs?: number;
  lateMs?: number;
}
export type AttemptObserver = (e: AttemptEvent) => void;

// ----- token sets from the app --------------------------------------------------------------------

/** A validated token set as the app hands it over (API, ops); stored by store/registration.ts. */
export interface TokenSetInput {
  accessToken: string;
  refreshToken: string;
  expiresInSec?: number;
  expiresAt?: Date;
  tokenType?: string;
  scope?: string;
  /** The whole token body, for provider hooks (linked token sets) and metadata fields. */
  raw: Record<string, unknown>;
}

// ----- extensions ---------------------------------------------------------------------------------

/** The refresh queues as extensions use them (schedule/queues.ts Queues). */
export interface RefreshQueues {
  readonly prefix: string;
  /** BullMQ's Redis connection (never gives up on a command). */
  readonly connection: RedisClient;
  readonly maintenance: Queue;
  /** REFRESH_QUEUE_SHARDS: refresh queues per provider. */
  readonly shards: number;
  /** BullMQ's `prefix` option for a queue (each queue has its own hash tag: redis/keys.ts). */
  prefixOf(queueName: string): string;
  /** The refresh queue (shard) holding a connection's job. */
  refreshQueueFor(provider: string, connectionId: string): Queue<RefreshJobData>;
  /** Every refresh queue (shard) of a provider. */
  refreshQueues(provider: string): Queue<RefreshJobData>[];
  /** A provider's job counts by state, summed over its shards. */
  jobCounts(provider: string, ...states: JobType[]): Promise<Record<string, number>>;
  /** The Redis key of a connection's job hash. */
  jobKey(provider: string, jobId: string): string;
  /** Which connections have a job, in the order given (one pipeline per queue: cluster-safe). */
  haveJobs(items: readonly { provider: string; id: string }[]): Promise<boolean[]>;
}

/** The feeder's one operation extensions use (schedule/scheduler.ts Scheduler.ensure). */
export interface JobPlanner {
  ensure(
    connectionId: string,
    provider: string,
    at: Date | null,
    trigger?: QueuedTrigger,
  ): Promise<'added' | 'moved' | 'kept' | 'beyond_horizon'>;
}

/** Everything the daemon offers its extensions; each extension declares the part it uses (Pick<>). */
export interface ExtensionHost {
  config: Config;
  log: Logger;
  db: Db;
  keyring: Keyring;
  providers: ProviderRegistry;
  queues: RefreshQueues;
  /** The feeder (the Scheduler class). */
  scheduler: JobPlanner;
}

export type ApiScope = 'read' | 'token';
/** Builds the API-key preHandler for a scope (api/server.ts). */
export type AuthHook = (scope: ApiScope) => (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** A concern that plugs into the daemon's lifecycle (metrics, webhooks, breaker, dashboards). */
export interface DaemonExtension {
  name: string;
  gate?: ProviderGate;
  onAttempt?: AttemptObserver;
  start?(host: ExtensionHost): Promise<void> | void;
  routes?(app: FastifyInstance, auth: AuthHook, host: ExtensionHost): Promise<void> | void;
  close?(): Promise<void> | void;
}
