// Webhook dispatcher: delivers OutboxEvent rows to WEBHOOK_URL at least once, as Standard Webhooks
// (headers and signatures in signing.ts, body { type, timestamp, data }).
//
// Multi-process safe: each tick claims a batch of due rows with SELECT ... FOR UPDATE SKIP LOCKED
// and, in the same statement, pushes their nextAttemptAt forward by a lease. A process that dies
// mid-dispatch simply lets the lease run out and another tick (any process) retries the event;
// the receiver dedups by the event id (the webhook-id header).
// Order per connection: an event is only claimed when no older undelivered event of the same
// connection (or, for provider events, the same provider) is still pending.
// Retries: exponential backoff with jitter, capped; an event is given up (deadAt) once it is older
// than WEBHOOK_MAX_AGE_MS and has had as many attempts as the backoff schedule fits into that age.
// `npm run ops -- webhooks replay` resets dead or failed events.
// A 410 Gone answer means the receiver wants no more: deliveries to that URL stop (every process,
// across restarts) until `npm run ops -- webhooks resume`; events wait in the outbox meanwhile.
import type { Logger } from 'pino';
import { ConfigError, type Config } from '../config/env.ts';
import type { DaemonExtension, ExtensionHost } from '../interfaces.ts';
import { scrubSecrets } from '../log/scrub.ts';
import type { Db } from '../store/db.ts';
import { claimDueEvents, type ClaimedEvent } from '../store/outbox.ts';
import { isEndpointGone, markEndpointGone } from '../store/webhook-endpoints.ts';
import { backoffMs, nominalBackoffMs } from '../util/backoff.ts';
import { endpointIdentity } from './endpoint.ts';
import { deliveryHeaders, signingKeys } from './signing.ts';

export interface DispatcherOptions {
  db: Db;
  log: Logger;
  url: string;
  /** whsec_ secret(s); with several, each signs (the first is current), for a rotation without a gap. */
  secret: string | readonly string[];
  /** Give up (deadAt) on an event older than this that keeps failing. */
  maxAgeMs: number;
  /** Pause between ticks when there is nothing (more) due. */
  intervalMs: number;
  /** First retry delay; doubles per failed attempt up to retryMaxMs (full jitter on the upper half). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Per-delivery HTTP timeout. */
  timeoutMs?: number;
  batchSize?: number;
  /** Deliveries in flight at once per process. */
  concurrency?: number;
  now?: () => number;
  random?: () => number;
  fetch?: typeof fetch;
}

export type { ClaimedEvent } from '../store/outbox.ts';

// The spec advises a 15-30 s timeout so receivers have time to acknowledge.
export const WEBHOOK_DEFAULTS = {
  retryBaseMs: 5_000,
  retryMaxMs: 3600_000,
  timeoutMs: 15_000,
  batchSize: 50,
  concurrency: 8,
};

/**
 * The JSON body of an event, the spec's { type, timestamp, data } (timestamp: when the event
 * happened). Stable across retries (the timestamp header changes, not the body); the event id
 * travels in the webhook-id header.
 */
export function eventBody(
  e: Pick<ClaimedEvent, 'type' | 'connectionId' | 'provider' | 'payload' | 'createdAt'>,
): string {
  const payload = (e.payload && typeof e.payload === 'object' ? e.payload : {}) as Record<string, unknown>;
  const data: Record<string, unknown> = {
    ...(e.connectionId ? { connectionId: e.connectionId } : {}),
    ...(e.provider ? { provider: e.provider } : {}),
    ...payload,
  };
  return JSON.stringify({ type: e.type, timestamp: e.createdAt.toISOString(), data });
}

/** What one delivery attempt came to. */
export type DeliveryOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'gone'; status: 410; error: string }
  | { kind: 'failed'; status: number | null; error: string };

/**
 * How many attempts the backoff schedule fits into maxAgeMs (upper-bound delays, so a process
 * that ran all along has made at least this many by then). A replay resets attempts to 0, which
 * gives a replayed event another full retry period.
 */
export function attemptsWithin(maxAgeMs: number, baseMs: number, maxMs: number): number {
  let n = 1;
  let elapsed = 0;
  while (elapsed < maxAgeMs && n < 100_000) {
    elapsed += nominalBackoffMs(n, baseMs, maxMs);
    n++;
  }
  return n;
}

export class WebhookDispatcher {
  private readonly o: Required<Omit<DispatcherOptions, 'fetch'>> & { fetch: typeof fetch };
  private readonly giveUpAfterAttempts: number;
  private readonly keys: Buffer[];
  private readonly endpoint: { urlHash: string; display: string };
  /** The URL answered 410 Gone (here or in another process): deliver nothing until resumed. */
  private gone = false;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = true;
  private readonly inflight = new Set<AbortController>();

  constructor(opts: DispatcherOptions) {
    this.o = {
      retryBaseMs: WEBHOOK_DEFAULTS.retryBaseMs,
      retryMaxMs: WEBHOOK_DEFAULTS.retryMaxMs,
      timeoutMs: WEBHOOK_DEFAULTS.timeoutMs,
      batchSize: WEBHOOK_DEFAULTS.batchSize,
      concurrency: WEBHOOK_DEFAULTS.concurrency,
      now: Date.now,
      random: Math.random,
      fetch: globalThis.fetch,
      ...opts,
    };
    this.giveUpAfterAttempts = attemptsWithin(this.o.maxAgeMs, this.o.retryBaseMs, this.o.retryMaxMs);
    this.keys = signingKeys(this.o.secret);
    this.endpoint = endpointIdentity(this.o.url);
  }

  /** How long a claimed batch stays ours: every delivery of the batch fits, plus a margin. */
  get leaseMs(): number {
    return this.o.timeoutMs * Math.ceil(this.o.batchSize / this.o.concurrency) + Math.max(2000, this.o.timeoutMs);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops ticking and waits (bounded by the HTTP timeout) for deliveries in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const running = this.running;
    if (running) {
      const t = setTimeout(() => {
        for (const ac of this.inflight) ac.abort();
      }, this.o.timeoutMs + 1000);
      await running.catch(() => undefined);
      clearTimeout(t);
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().then(
        (more) => {
          this.running = undefined;
          this.schedule(more ? 0 : this.o.intervalMs);
        },
        (err) => {
          this.running = undefined;
          this.o.log.warn({ err }, 'webhook dispatch tick failed; retrying');
          this.schedule(this.o.intervalMs);
        },
      );
    }, ms);
    this.timer.unref?.();
  }

  /** One pass: claim due events, deliver them. Returns true when a full batch was claimed (more may be due). */
  async tick(): Promise<boolean> {
    if (await this.endpointGone()) return false;
    const batch = await this.claim();
    if (batch.length === 0) return false;
    const claimedAt = this.o.now();
    const queue = [...batch];
    const workers = Array.from({ length: Math.min(this.o.concurrency, queue.length) }, async () => {
      for (let e = queue.shift(); e; e = queue.shift()) {
        if (this.stopped || this.gone || this.o.now() + this.o.timeoutMs > claimedAt + this.leaseMs) {
          // Not enough lease left (or shutting down, or the URL went away): hand it back at once.
          await this.release(e.id).catch(() => undefined);
          continue;
        }
        await this.deliver(e);
      }
    });
    await Promise.all(workers);
    return batch.length === this.o.batchSize && !this.stopped && !this.gone;
  }

  /** Reads the URL's 410 mark (set by any process), logging when it appears or is lifted. */
  private async endpointGone(): Promise<boolean> {
    const gone = await isEndpointGone(this.o.db, this.endpoint.urlHash);
    if (gone && !this.gone)
      this.o.log.warn(
        { url: this.endpoint.display },
        'WEBHOOK_URL answered 410 Gone: deliveries stopped; `npm run ops -- webhooks resume` starts them again',
      );
    if (!gone && this.gone) this.o.log.info({ url: this.endpoint.display }, 'webhook deliveries resumed');
    this.gone = gone;
    return gone;
  }

  /** Claims due undelivered events and leases them (nextAttemptAt = now + lease) in one statement. */
  async claim(): Promise<ClaimedEvent[]> {
    const now = new Date(this.o.now());
    const leaseUntil = new Date(now.getTime() + this.leaseMs);
    return claimDueEvents(this.o.db, { now, leaseUntil, batchSize: this.o.batchSize });
  }

  private async release(id: string): Promise<void> {
    await this.o.db.outboxEvent.updateMany({
      where: { id, deliveredAt: null },
      data: { nextAttemptAt: new Date(this.o.now()) },
    });
  }

  private async deliver(e: ClaimedEvent): Promise<void> {
    const outcome = await this.post(e);
    const now = new Date(this.o.now());
    if (outcome.kind === 'delivered') {
      await this.o.db.outboxEvent.updateMany({
        where: { id: e.id, deliveredAt: null },
        data: { deliveredAt: now, attempts: { increment: 1 }, lastStatus: outcome.status, lastError: null },
      });
      this.o.log.debug({ eventId: e.id, type: e.type, status: outcome.status }, 'webhook delivered');
      return;
    }
    if (outcome.kind === 'gone') return this.stopForGone(e, outcome.error, now);
    await this.recordFailure(e, outcome.status, outcome.error, now);
  }

  /** One POST of an event, signed for this attempt. */
  private async post(e: ClaimedEvent): Promise<DeliveryOutcome> {
    const body = eventBody(e);
    const headers = deliveryHeaders(this.keys, e.id, body, this.o.now());
    const ac = new AbortController();
    this.inflight.add(ac);
    const timer = setTimeout(() => ac.abort(), this.o.timeoutMs);
    try {
      const res = await this.o.fetch(this.o.url, {
        method: 'POST',
        headers,
        body,
        signal: ac.signal,
        redirect: 'manual',
      });
      let snippet = '';
      try {
        snippet = (await res.text()).slice(0, 200);
      } catch {
        /* body unreadable: the status is what matters */
      }
      if (res.status >= 200 && res.status < 300) return { kind: 'delivered', status: res.status };
      const error = `HTTP ${res.status}${snippet ? `: ${scrubSecrets(snippet).replace(/\s+/g, ' ').trim()}` : ''}`;
      return res.status === 410 ? { kind: 'gone', status: 410, error } : { kind: 'failed', status: res.status, error };
    } catch (err) {
      const x = err as Error & { cause?: { code?: string } };
      return {
        kind: 'failed',
        status: null,
        error: ac.signal.aborted
          ? `timeout after ${this.o.timeoutMs} ms`
          : (x.cause?.code ?? x.name ?? 'network_error'),
      };
    } finally {
      clearTimeout(timer);
      this.inflight.delete(ac);
    }
  }

  /**
   * 410 Gone: the receiver asks for no more webhooks. Marks the URL (all processes stop), and
   * leaves the event pending, not dead: it goes first once deliveries are resumed. It keeps its
   * lease: made due now, another process that checked the mark a moment before it was written
   * could claim and send it again; resuming makes it due.
   */
  private async stopForGone(e: ClaimedEvent, error: string, now: Date): Promise<void> {
    this.gone = true;
    await markEndpointGone(this.o.db, {
      urlHash: this.endpoint.urlHash,
      url: this.endpoint.display,
      eventId: e.id,
      at: now,
    });
    await this.o.db.outboxEvent.updateMany({
      where: { id: e.id, deliveredAt: null },
      data: { attempts: { increment: 1 }, lastStatus: 410, lastError: error.slice(0, 300) },
    });
    this.o.log.error(
      { eventId: e.id, type: e.type, url: this.endpoint.display, status: 410 },
      'WEBHOOK_URL answered 410 Gone: deliveries to it stopped (see `npm run ops -- webhooks list`); `npm run ops -- webhooks resume` starts them again',
    );
  }

  private async recordFailure(e: ClaimedEvent, status: number | null, error: string, now: Date): Promise<void> {
    const attempts = e.attempts + 1;
    const age = now.getTime() - e.createdAt.getTime();
    const dead = age >= this.o.maxAgeMs && attempts >= this.giveUpAfterAttempts;
    const next = new Date(now.getTime() + backoffMs(attempts, this.o.retryBaseMs, this.o.retryMaxMs, this.o.random));
    await this.o.db.outboxEvent.updateMany({
      where: { id: e.id, deliveredAt: null },
      data: {
        attempts: { increment: 1 },
        lastStatus: status,
        lastError: error.slice(0, 300),
        nextAttemptAt: next,
        ...(dead ? { deadAt: now } : {}),
      },
    });
    const fields = { eventId: e.id, type: e.type, connectionId: e.connectionId ?? undefined, status, error, attempts };
    if (dead)
      this.o.log.error(
        fields,
        'webhook delivery given up after WEBHOOK_MAX_AGE_MS; replay it with `npm run ops -- webhooks replay --dead`',
      );
    else this.o.log.warn({ ...fields, retryAt: next.toISOString() }, 'webhook delivery failed; will retry');
  }
}

type Env = Record<string, string | undefined>;

function intEnv(env: Env, name: string, def: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min) throw new ConfigError(name, `must be at least ${min}, got ${n}`);
  return n;
}

/** Dispatcher tuning beyond Config: WEBHOOK_RETRY_BASE_MS, WEBHOOK_RETRY_MAX_MS, WEBHOOK_TIMEOUT_MS, WEBHOOK_BATCH_SIZE. */
export function dispatcherTuningFromEnv(
  env: Env = process.env,
): Pick<DispatcherOptions, 'retryBaseMs' | 'retryMaxMs' | 'timeoutMs' | 'batchSize'> {
  const retryBaseMs = intEnv(env, 'WEBHOOK_RETRY_BASE_MS', WEBHOOK_DEFAULTS.retryBaseMs, 10);
  const retryMaxMs = intEnv(env, 'WEBHOOK_RETRY_MAX_MS', WEBHOOK_DEFAULTS.retryMaxMs, 10);
  if (retryMaxMs < retryBaseMs)
    throw new ConfigError('WEBHOOK_RETRY_MAX_MS', `must be at least WEBHOOK_RETRY_BASE_MS (${retryBaseMs})`);
  return {
    retryBaseMs,
    retryMaxMs,
    timeoutMs: intEnv(env, 'WEBHOOK_TIMEOUT_MS', WEBHOOK_DEFAULTS.timeoutMs, 100),
    batchSize: intEnv(env, 'WEBHOOK_BATCH_SIZE', WEBHOOK_DEFAULTS.batchSize, 1),
  };
}

/**
 * The dispatcher as a daemon extension: runs in processes with the worker or scheduler role when
 * WEBHOOK_URL is set. Returns null otherwise.
 */
export function webhookExtension(
  config: Config,
  overrides: Partial<Omit<DispatcherOptions, 'db' | 'log'>> = {},
  env: Env = process.env,
): DaemonExtension | null {
  if (!config.webhookUrl || config.webhookSecrets.length === 0) return null;
  if (!config.roles.has('worker') && !config.roles.has('scheduler')) return null;
  const tuning = dispatcherTuningFromEnv(env);
  let dispatcher: WebhookDispatcher | undefined;
  return {
    name: 'webhooks',
    start(d: Pick<ExtensionHost, 'db' | 'log'>) {
      dispatcher = new WebhookDispatcher({
        db: d.db,
        log: d.log.child({ component: 'webhooks' }),
        url: config.webhookUrl!,
        secret: config.webhookSecrets,
        maxAgeMs: config.webhookMaxAgeMs,
        intervalMs: config.dispatchIntervalMs,
        ...tuning,
        ...overrides,
      });
      dispatcher.start();
    },
    async close() {
      await dispatcher?.stop();
    },
  };
}
