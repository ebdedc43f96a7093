// The connection store: the only code that writes token state. Every rotation is one statement
// fenced by the version column; marking needs_reauth re-reads the row under lock first.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { hotPool, type Db } from './db.ts';
import { Prisma, type Connection, type RefreshTrigger } from '../generated/prisma/client.ts';
import { enqueueEvent } from './outbox.ts';
import type { ReauthReason } from '../oauth/answer.ts';
import { isUuid } from '../util/ids.ts';

export type ConnectionRow = Connection;

/** The write-ahead claim of a refresh that will call the provider (see ConnectionStore.claim). */
export interface Claim {
  connectionId: string;
  trigger: RefreshTrigger;
  workerId: string;
  startedAt: Date;
  /** Refused while another attempt on the same token version is unfinished and started at or after this. */
  exclusiveSince: Date;
  /** Due only if nextRefreshAt is null or at or before this (null: no condition). */
  dueBy: Date | null;
  /** Due only if expiresAt is null or before this (null: no condition). */
  expiringBefore: Date | null;
  /** After a failure, due only if its retry time (nextRefreshAt) is at or before this (null: no condition). */
  backoffUntil: Date | null;
}

export interface RotationCommit {
  connectionId: string;
  attemptId: string;
  /** Keyed hash of the refresh token presented (recorded on the attempt). */
  tokenFingerprint?: string;
  versionBefore: number;
  accessTokenEnc: string;
  refreshTokenEnc: string;
  encKeyId: string;
  tokenType?: string;
  scope?: string;
  expiresAt: Date | null;
  refreshExpiresAt?: Date;
  metadata: Record<string, unknown>;
  now: Date;
  nextRefreshAt: Date;
  httpStatus: number;
  durationMs: number;
  commitWindowUs: number;
}

export interface AttemptFinish {
  attemptId: string;
  now: Date;
  outcome: string;
  httpStatus?: number;
  errorCode?: string;
  errorDescription?: string;
  durationMs: number;
  uncertain?: boolean;
  tokenFingerprint?: string;
}

/** Prisma keeps DateTime as UTC in timestamp(3) columns: read them as UTC whatever the process TZ. */
const UTC_TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 1114
      ? (v: string) => new Date(`${v.replace(' ', 'T')}Z`)
      : (pg.types.getTypeParser(oid, format as 'text') as (v: string) => unknown)) as typeof pg.types.getTypeParser,
};

/** Dates go out as UTC ISO strings cast to timestamp (the zone suffix is ignored), as Prisma writes them. */
const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** Every column the generated client knows, so a row read here has the same shape as Prisma's. */
const LOAD_SQL = `SELECT ${Object.values(Prisma.ConnectionScalarFieldEnum)
  .map((f) => `"${f}"${f === 'status' ? '::text' : ''}`)
  .join(', ')}
  FROM "Connection" WHERE "id" = $1::uuid`;

/** The columns a token read needs (GET .../token): parsing every column was a tenth of the read. */
export type TokenRow = Pick<ConnectionRow, 'status' | 'reauthReason' | 'accessTokenEnc' | 'expiresAt' | 'tokenType'>;
const LOAD_TOKEN_SQL = `SELECT "status"::text, "reauthReason", "accessTokenEnc", "expiresAt", "tokenType"
  FROM "Connection" WHERE "id" = $1::uuid`;

/** ConnectionStore.claim: the row, plus the write-ahead attempt row when active, due and unclaimed. */
const CLAIM_SQL = `
      WITH c AS (${LOAD_SQL}),
      ins AS (
        INSERT INTO "RefreshAttempt" ("id", "connectionId", "provider", "trigger", "workerId", "versionBefore", "startedAt")
        SELECT $2::uuid, c."id", c."provider", $3::"RefreshTrigger", $4, c."version", $5::timestamp FROM c
        WHERE c."status" = 'active'
          AND ($6::timestamp IS NULL OR c."nextRefreshAt" IS NULL OR c."nextRefreshAt" <= $6::timestamp)
          AND ($7::timestamp IS NULL OR c."expiresAt" IS NULL OR c."expiresAt" < $7::timestamp)
          AND ($9::timestamp IS NULL OR c."consecutiveFailures" = 0 OR c."nextRefreshAt" IS NULL OR c."nextRefreshAt" <= $9::timestamp)
          AND NOT EXISTS (
            SELECT 1 FROM "RefreshAttempt" o
            WHERE o."connectionId" = c."id" AND o."startedAt" >= $8::timestamp AND o."versionBefore" = c."version" AND o."finishedAt" IS NULL)
        RETURNING "id"
      )
      SELECT c.*, (SELECT "id" FROM ins) AS "claimedAttemptId" FROM c`;

/** ConnectionStore.commitRotation: the fenced UPDATE of the connection and the attempt's outcome, in one statement. */
const COMMIT_ROTATION_SQL = `
      WITH upd AS (
        UPDATE "Connection" SET
          "accessTokenEnc" = $1,
          "refreshTokenEnc" = $2,
          "encKeyId" = $3,
          "tokenType" = COALESCE($4::text, "tokenType"),
          "scope" = COALESCE($5::text, "scope"),
          "expiresAt" = $6::timestamp,
          "refreshExpiresAt" = COALESCE($7::timestamp, "refreshExpiresAt"),
          "metadata" = "metadata" || $8::jsonb,
          "version" = $9::int,
          "lastRefreshedAt" = $10::timestamp,
          "nextRefreshAt" = $11::timestamp,
          "consecutiveFailures" = 0,
          "failingSince" = NULL,
          "failingNotifiedAt" = NULL,
          "lastErrorCode" = NULL,
          "lastErrorDescription" = NULL,
          "updatedAt" = $10::timestamp
        WHERE "id" = $12::uuid
          -- Only onto the active row we read: a late commit (a process frozen past its lock) must not
          -- bring tokens back onto a row another process has meanwhile marked needs_reauth. The
          -- second arm matches a row that already carries exactly our write (a retried commit).
          AND (("version" = $13::int AND "status" = 'active')
               OR ("version" = $9::int AND "refreshTokenEnc" = $2))
        RETURNING "version"
      )
      UPDATE "RefreshAttempt" SET
        "finishedAt" = $10::timestamp,
        "outcome" = CASE WHEN EXISTS (SELECT 1 FROM upd) THEN 'rotated' ELSE 'lost_race' END,
        "providerRotated" = true,
        "httpStatus" = $15::int,
        "versionAfter" = (SELECT "version" FROM upd),
        "durationMs" = $16::int,
        "commitWindowUs" = $17::int,
        "tokenFingerprint" = COALESCE($18::text, "tokenFingerprint")
      WHERE "id" = $14::uuid
      RETURNING "versionAfter"`;

export class ConnectionStore {
  // The refresh hot path (load, write-ahead INSERT, fenced commit) runs as named prepared
  // statements on the pg pool under Prisma (same connections, no query-engine work per call); inside
  // a transaction (db is a tx client) or for a non-uuid id it falls back to Prisma.
  private readonly pool: pg.Pool | undefined;

  /** onChange: told after each change this store commits to a row's tokens or state (the token cache). */
  constructor(
    readonly db: Db,
    private readonly onChange: (connectionId: string) => void = () => undefined,
  ) {
    this.pool = hotPool(db);
  }

  load(id: string): Promise<ConnectionRow | null> {
    if (!this.pool || !isUuid(id)) return this.db.connection.findUnique({ where: { id } });
    return this.pool
      .query<ConnectionRow>({ name: 'ort_load_connection', text: LOAD_SQL, values: [id], types: UTC_TYPES })
      .then((r) => r.rows[0] ?? null);
  }

  /** Only what a token read needs, one prepared point select. */
  loadToken(id: string): Promise<TokenRow | null> {
    if (!this.pool || !isUuid(id)) return this.load(id);
    return this.pool
      .query<TokenRow>({ name: 'ort_load_token', text: LOAD_TOKEN_SQL, values: [id], types: UTC_TYPES })
      .then((r) => r.rows[0] ?? null);
  }

  /**
   * Reads the connection and, in the same statement, writes the attempt's write-ahead row if the
   * connection is active and due (one round trip instead of two on the hot path). The row is refused
   * (attemptId null on an active, due connection) while another attempt on the same token version is
   * unfinished and started at or after `exclusiveSince` (now minus the lock TTL). The Redis lock
   * keeps refreshes of a connection apart; this is the guard that still holds when Redis loses the
   * lock (FLUSHALL, a restart without persistence) while a request is out: a second process would
   * otherwise present the same single-use refresh token.
   */
  async claim(c: Claim): Promise<{ row: ConnectionRow | null; attemptId: string | null }> {
    if (!isUuid(c.connectionId)) return { row: null, attemptId: null };
    const values = [
      c.connectionId,
      randomUUID(),
      c.trigger,
      c.workerId,
      c.startedAt.toISOString(),
      iso(c.dueBy),
      iso(c.expiringBefore),
      c.exclusiveSince.toISOString(),
      iso(c.backoffUntil),
    ];
    type Out = ConnectionRow & { claimedAttemptId: string | null };
    const rows = this.pool
      ? (await this.pool.query<Out>({ name: 'ort_claim', text: CLAIM_SQL, values, types: UTC_TYPES })).rows
      : await this.db.$queryRawUnsafe<Out[]>(CLAIM_SQL, ...values);
    const r = rows[0];
    if (!r) return { row: null, attemptId: null };
    const { claimedAttemptId, ...row } = r;
    return { row, attemptId: claimedAttemptId };
  }

  /** Removes a claimed attempt that did not go ahead before any call (the provider's breaker is open). */
  async dropAttempt(attemptId: string): Promise<void> {
    await this.db.refreshAttempt.deleteMany({ where: { id: attemptId, finishedAt: null } });
  }

  /**
   * Commits a rotation in one statement: the fenced UPDATE of the connection and the attempt's
   * outcome. Idempotent for retries after a lost commit acknowledgement: it sets version to
   * versionBefore+1 and also matches a row that already carries exactly our write.
   * Returns the new version, or null when the fence rejected it (lost race).
   */
  async commitRotation(c: RotationCommit): Promise<number | null> {
    const values = [
      c.accessTokenEnc,
      c.refreshTokenEnc,
      c.encKeyId,
      c.tokenType ?? null,
      c.scope ?? null,
      iso(c.expiresAt),
      iso(c.refreshExpiresAt ?? null),
      JSON.stringify(c.metadata),
      c.versionBefore + 1,
      iso(c.now),
      iso(c.nextRefreshAt),
      c.connectionId,
      c.versionBefore,
      c.attemptId,
      c.httpStatus,
      c.durationMs,
      c.commitWindowUs,
      c.tokenFingerprint ?? null,
    ];
    type Out = { versionAfter: number | null };
    const rows = this.pool
      ? (await this.pool.query<Out>({ name: 'ort_commit_rotation', text: COMMIT_ROTATION_SQL, values })).rows
      : await this.db.$queryRawUnsafe<Out[]>(COMMIT_ROTATION_SQL, ...values);
    const v = rows[0]?.versionAfter ?? null;
    if (v !== null) this.onChange(c.connectionId);
    return v;
  }

  /** Same as commitRotation but inside a transaction that also emits connection.recovered. */
  async commitRotationRecovered(c: RotationCommit, payload: Record<string, unknown>): Promise<number | null> {
    const v = await this.db.$transaction(async (tx) => {
      const store = new ConnectionStore(tx as unknown as Db);
      const v = await store.commitRotation(c);
      if (v !== null)
        await enqueueEvent(tx, 'connection.recovered', {
          connectionId: c.connectionId,
          provider: String(payload.provider),
          payload,
        });
      return v;
    });
    if (v !== null) this.onChange(c.connectionId);
    return v;
  }

  finishAttempt(f: AttemptFinish, tx: Prisma.TransactionClient | Db = this.db): Promise<unknown> {
    return tx.refreshAttempt.update({
      where: { id: f.attemptId },
      data: {
        finishedAt: f.now,
        outcome: f.outcome,
        httpStatus: f.httpStatus ?? null,
        errorCode: f.errorCode ?? null,
        errorDescription: f.errorDescription ?? null,
        durationMs: f.durationMs,
        uncertain: f.uncertain ?? false,
        ...(f.tokenFingerprint ? { tokenFingerprint: f.tokenFingerprint } : {}),
      },
    });
  }

  /**
   * The latest earlier attempt on the same token version whose result we never learned, or whose
   * rotation we could not store: it explains a following invalid_grant.
   */
  async unresolvedPriorAttempt(connectionId: string, versionBefore: number, excludeId: string) {
    return this.db.refreshAttempt.findFirst({
      where: {
        connectionId,
        versionBefore,
        id: { not: excludeId },
        OR: [{ finishedAt: null }, { uncertain: true }, { providerRotated: true, outcome: { not: 'rotated' } }],
      },
      // The earliest: a single-use token rotates once, so the first attempt whose result we never
      // learned is the one that lost it (a later one presenting the same token, e.g. a retry that
      // met a provider fault, changed nothing).
      orderBy: { startedAt: 'asc' },
    });
  }

  /** Every attempt on one token version (read only after a dead-grant answer: explains it). */
  attemptsOnVersion(connectionId: string, versionBefore: number) {
    return this.db.refreshAttempt.findMany({
      where: { connectionId, versionBefore },
      orderBy: { startedAt: 'asc' },
      take: 50,
    });
  }

  /**
   * Marks the connection needs_reauth only if the refresh token that failed is still current.
   * Returns 'needs_reauth' or 'lost_race'.
   */
  async markNeedsReauth(args: {
    connectionId: string;
    versionBefore: number;
    reason: ReauthReason;
    finish: AttemptFinish;
    eventPayload: Record<string, unknown>;
  }): Promise<'needs_reauth' | 'lost_race'> {
    const r = await this.db.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ version: number; status: string }[]>`
        SELECT "version", "status"::text AS status FROM "Connection" WHERE "id" = ${args.connectionId}::uuid FOR UPDATE`;
      const row = rows[0];
      if (!row || row.version !== args.versionBefore || row.status !== 'active') {
        await this.finishAttempt({ ...args.finish, outcome: 'lost_race' }, tx);
        return 'lost_race' as const;
      }
      await tx.connection.update({
        where: { id: args.connectionId },
        data: {
          status: 'needs_reauth',
          reauthReason: args.reason,
          reauthAt: args.finish.now,
          lastErrorCode: args.finish.errorCode ?? null,
          lastErrorDescription: args.finish.errorDescription ?? null,
          lastErrorAt: args.finish.now,
          nextRefreshAt: null,
          consecutiveFailures: { increment: 1 },
        },
      });
      await this.finishAttempt({ ...args.finish, outcome: 'needs_reauth' }, tx);
      await enqueueEvent(tx, 'connection.needs_reauth', {
        connectionId: args.connectionId,
        provider: String(args.eventPayload.provider),
        payload: args.eventPayload,
      });
      return 'needs_reauth' as const;
    });
    if (r === 'needs_reauth') this.onChange(args.connectionId);
    return r;
  }

  /** Records a failed attempt that changes nothing about the grant; plans the retry. */
  async recordFailure(args: {
    connectionId: string;
    versionBefore: number;
    finish: AttemptFinish;
    retryAt: Date;
    countsAsFailure: boolean;
    /** Emit connection.refresh_failing if the access token has expired and none was sent this streak. */
    failingPayload?: Record<string, unknown>;
  }): Promise<void> {
    await this.db.$transaction(async (tx) => {
      const updated = await tx.connection.updateMany({
        where: { id: args.connectionId, version: args.versionBefore, status: 'active' },
        data: {
          ...(args.countsAsFailure ? { consecutiveFailures: { increment: 1 } } : {}),
          lastErrorCode: args.finish.errorCode ?? null,
          lastErrorDescription: args.finish.errorDescription ?? null,
          lastErrorAt: args.finish.now,
          nextRefreshAt: args.retryAt,
        },
      });
      if (updated.count === 1 && args.countsAsFailure) {
        await tx.connection.updateMany({
          where: { id: args.connectionId, failingSince: null },
          data: { failingSince: args.finish.now },
        });
        if (args.failingPayload) {
          const flagged = await tx.connection.updateMany({
            where: { id: args.connectionId, failingNotifiedAt: null, expiresAt: { lt: args.finish.now } },
            data: { failingNotifiedAt: args.finish.now },
          });
          if (flagged.count === 1) {
            await enqueueEvent(tx, 'connection.refresh_failing', {
              connectionId: args.connectionId,
              provider: String(args.failingPayload.provider),
              payload: args.failingPayload,
            });
          }
        }
      }
      await this.finishAttempt(args.finish, tx);
    });
  }
}
