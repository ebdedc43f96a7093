// Writes that come from the app: a new connection, a new token set after re-authorization, removal.
import type { ResolvedProvider } from '../providers/registry.ts';
import type { TokenSetInput } from '../interfaces.ts';
import type { Db } from './db.ts';
import { enqueueEvent } from './outbox.ts';
import type { Connection, Prisma } from '../generated/prisma/client.ts';

type Tx = Prisma.TransactionClient;

/** Extra writes that must commit with the connection (the connect flow's event and session row). */
export interface WriteHooks {
  inTx?: (tx: Tx, row: Connection) => Promise<void>;
  /** Emit connection.recovered with this reason even when the connection was active. */
  recoveredReason?: string;
  /** A token without expiry and without refresh token (connect flow): stored as non-expiring, never refreshed. */
  neverExpires?: boolean;
}

export type PlanFn = (id: string, provider: ResolvedProvider, expiresAt: Date | null, nowMs: number) => Date;

function expiryOf(t: TokenSetInput, provider: ResolvedProvider, nowMs: number): Date | null {
  if (t.expiresAt) return t.expiresAt;
  if (t.expiresInSec) return new Date(nowMs + t.expiresInSec * 1000);
  return provider.expiry.defaultLifetimeSec ? new Date(nowMs + provider.expiry.defaultLifetimeSec * 1000) : null;
}

function pickMetadata(provider: ResolvedProvider, raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of provider.metadataFields) if (raw[f] !== undefined) out[f] = raw[f];
  return out;
}

/**
 * What registration needs of the keyring (crypto/keyring.ts's Keyring is one). Declared here so
 * store/ does not import crypto/, whose start-up key check (crypto/verify.ts) reads the store.
 */
interface TokenSealer {
  encrypt(plaintext: string): string;
  readonly currentId: string;
}

export class Registration {
  private readonly now: () => number;

  constructor(
    private readonly db: Db,
    private readonly keyring: TokenSealer,
    private readonly plan: PlanFn,
    opts: { now?: () => number; onChange?: (connectionId: string) => void } = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.onChange = opts.onChange ?? (() => undefined);
  }

  /** Told after a change this process commits to a row's tokens or state (the token cache). */
  private readonly onChange: (connectionId: string) => void;

  /** Creates a connection; 'conflict' if (provider, externalId) exists. */
  async create(
    args: {
      provider: ResolvedProvider;
      externalId: string;
      tokens: TokenSetInput;
      metadata: Record<string, unknown>;
      parentId?: string;
    },
    hooks: WriteHooks = {},
  ): Promise<{ kind: 'created'; row: Connection } | { kind: 'conflict'; id: string }> {
    const nowMs = this.now();
    const expiresAt = hooks.neverExpires ? null : expiryOf(args.tokens, args.provider, nowMs);
    const id = crypto.randomUUID();
    const nextRefreshAt = hooks.neverExpires ? null : this.plan(id, args.provider, expiresAt, nowMs);
    try {
      const data = {
        id,
        provider: args.provider.key,
        externalId: args.externalId,
        accessTokenEnc: this.keyring.encrypt(args.tokens.accessToken),
        refreshTokenEnc: this.keyring.encrypt(args.tokens.refreshToken),
        encKeyId: this.keyring.currentId,
        tokenType: args.tokens.tokenType ?? null,
        scope: args.tokens.scope ?? null,
        expiresAt,
        metadata: { ...pickMetadata(args.provider, args.tokens.raw), ...args.metadata } as Prisma.InputJsonValue,
        lastRefreshedAt: new Date(nowMs),
        nextRefreshAt,
        parentId: args.parentId ?? null,
      };
      const inTx = hooks.inTx;
      const row = inTx
        ? await this.db.$transaction(async (tx) => {
            const r = await tx.connection.create({ data });
            await inTx(tx, r);
            return r;
          })
        : await this.db.connection.create({ data });
      return { kind: 'created', row };
    } catch (e) {
      if ((e as { code?: string }).code === 'P2002') {
        const existing = await this.db.connection.findUnique({
          where: { provider_externalId: { provider: args.provider.key, externalId: args.externalId } },
          select: { id: true },
        });
        return { kind: 'conflict', id: existing?.id ?? '' };
      }
      throw e;
    }
  }

  /** A new token set after the user re-authorized: active again, version+1, schedule resumes. */
  async replaceTokens(
    args: { id: string; provider: ResolvedProvider; tokens: TokenSetInput; metadata?: Record<string, unknown> },
    hooks: WriteHooks = {},
  ): Promise<Connection | null> {
    const nowMs = this.now();
    const expiresAt = hooks.neverExpires ? null : expiryOf(args.tokens, args.provider, nowMs);
    const nextRefreshAt = hooks.neverExpires ? null : this.plan(args.id, args.provider, expiresAt, nowMs);
    const updated = await this.db.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ status: string; metadata: Record<string, unknown> }[]>`
        SELECT "status"::text AS status, "metadata" FROM "Connection" WHERE "id" = ${args.id}::uuid FOR UPDATE`;
      const cur = rows[0];
      if (!cur) return null;
      const row = await tx.connection.update({
        where: { id: args.id },
        data: {
          accessTokenEnc: this.keyring.encrypt(args.tokens.accessToken),
          refreshTokenEnc: this.keyring.encrypt(args.tokens.refreshToken),
          encKeyId: this.keyring.currentId,
          tokenType: args.tokens.tokenType ?? null,
          scope: args.tokens.scope ?? null,
          expiresAt,
          metadata: {
            ...cur.metadata,
            ...pickMetadata(args.provider, args.tokens.raw),
            ...(args.metadata ?? {}),
          } as Prisma.InputJsonValue,
          status: 'active',
          version: { increment: 1 },
          reauthReason: null,
          reauthAt: null,
          consecutiveFailures: 0,
          failingSince: null,
          failingNotifiedAt: null,
          lastErrorCode: null,
          lastErrorDescription: null,
          lastRefreshedAt: new Date(nowMs),
          nextRefreshAt,
        },
      });
      if (cur.status !== 'active' || hooks.recoveredReason) {
        const reason = hooks.recoveredReason ? { reason: hooks.recoveredReason, previousStatus: cur.status } : {};
        await enqueueEvent(tx, 'connection.recovered', {
          connectionId: args.id,
          provider: args.provider.key,
          payload: { provider: args.provider.key, externalId: row.externalId, after: 'reconnect', ...reason },
        });
      }
      await hooks.inTx?.(tx, row);
      return row;
    });
    if (updated) this.onChange(args.id);
    return updated;
  }

  async remove(id: string): Promise<Connection | null> {
    try {
      const removed = await this.db.connection.delete({ where: { id } });
      this.onChange(id);
      return removed;
    } catch (e) {
      if ((e as { code?: string }).code === 'P2025') return null;
      throw e;
    }
  }
}
