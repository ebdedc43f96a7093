// `keys status` / `keys rotate` / `keys verify`: encryption keys of the stored tokens.
// Rotation re-encrypts rows that are not on the current key (the first of ENCRYPTION_KEYS), in
// batches, while the daemon keeps running. Each row is written with one fenced UPDATE (same id,
// version, key id and ciphertexts as read), so a concurrent refresh or token replacement is never
// overwritten: such a row is re-read on the next pass (or is already on the current key).
// Rotation never changes the version column, so it cannot fence out a refresh in flight.
// Resumable by construction: the selection is "rows not yet on the current key".
import { DecryptError } from '../../crypto/keyring.ts';
import type { Prisma } from '../../generated/prisma/client.ts';
import type { OpsCommand, OpsContext } from '../types.ts';
import { intFlag, parseFlags, stringFlag, UsageError, subcommands } from '../args.ts';
import { plural, progressBar, table } from '../format.ts';

const HELP = `Usage:
  ops keys status [--provider P] [--json]
  ops keys rotate [--batch N] [--limit N] [--provider P] [--dry-run] [--json]
  ops keys verify [--batch N] [--provider P] [--json]

Tokens are encrypted with AES-256-GCM. ENCRYPTION_KEYS="new:<base64>,old:<base64>" lists every
key: the first one encrypts new writes, all of them decrypt. To rotate:
  1. generate a key (openssl rand -base64 32) and put it FIRST in ENCRYPTION_KEYS on every process
     (a single ENCRYPTION_KEY is the key id "k1": ENCRYPTION_KEYS=k2:<new>,k1:<old>); restart them;
  2. run "ops keys rotate": re-encrypts every row still under an older key, batch by batch, with
     progress on stderr. Safe while the daemon runs; safe to interrupt and run again;
  3. "ops keys status" shows 0 rows on the old key: remove it from ENCRYPTION_KEYS.

status  rows per key id, and whether each key id is configured (MISSING = cannot decrypt).
rotate  re-encrypts rows not on the current key. A row whose ciphertext fails authentication
        (wrong key material, tampered data) is listed by id, counted and left untouched; the
        exit code is then 1.
verify  decrypts every row and lists the ones that fail (exit code 1 if any).

Flags:
  --batch N      rows per batch (default 100)
  --limit N      rotate at most N rows this run (rotate gradually; run again to continue)
  --provider P   only connections of this provider
  --dry-run      decrypt and count what would be rotated, write nothing
  --json         machine-readable output

Examples:
  ops keys status
  ops keys rotate --batch 500
  ops keys rotate --dry-run --json`;

const SPEC = {
  batch: { type: 'string' as const },
  limit: { type: 'string' as const },
  provider: { type: 'string' as const },
  'dry-run': { type: 'boolean' as const },
};

interface Failure {
  id: string;
  keyId: string;
  reason: string;
}

function reasonOf(e: unknown): string {
  if (e instanceof DecryptError) return e.message.replace(/^token ciphertext cannot be decrypted \(key [^)]*\): /, '');
  throw e;
}

async function status(argv: string[], ctx: OpsContext): Promise<number> {
  const { flags, positionals } = parseFlags(argv, { provider: SPEC.provider });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const provider = stringFlag(flags.provider);
  await ctx.connect();
  const { db, keyring } = ctx.daemon;
  const groups = await db.connection.groupBy({
    by: ['encKeyId'],
    where: provider ? { provider } : {},
    _count: { _all: true },
    orderBy: { encKeyId: 'asc' },
  });
  const configured = new Set(keyring.ids);
  const rows = groups.map((g) => ({
    keyId: g.encKeyId,
    rows: g._count._all,
    state:
      g.encKeyId === keyring.currentId
        ? 'current'
        : configured.has(g.encKeyId)
          ? 'configured (rotate away)'
          : 'MISSING from ENCRYPTION_KEYS',
  }));
  const unused = keyring.ids.filter((id) => !groups.some((g) => g.encKeyId === id));
  const missing = rows.filter((r) => !configured.has(r.keyId));
  const toRotate = rows.filter((r) => r.keyId !== keyring.currentId).reduce((s, r) => s + r.rows, 0);
  if (ctx.json) {
    ctx.out(
      JSON.stringify({
        currentKeyId: keyring.currentId,
        configuredKeyIds: keyring.ids,
        keys: rows,
        unusedKeyIds: unused,
        rowsToRotate: toRotate,
      }),
    );
  } else {
    ctx.out(`current key: ${keyring.currentId}   configured: ${keyring.ids.join(', ')}`);
    for (const l of table(
      ['KEY ID', 'ROWS', 'STATE'],
      rows.map((r) => [r.keyId, r.rows, r.state]),
    ))
      ctx.out(l);
    if (unused.length)
      ctx.out(
        `no rows use: ${unused.join(', ')}${unused.includes(keyring.currentId) ? '' : ' (can be removed from ENCRYPTION_KEYS)'}`,
      );
    ctx.out(
      toRotate
        ? `${plural(toRotate, 'connection')} not on the current key: run "ops keys rotate"`
        : 'every connection is on the current key',
    );
  }
  return missing.length ? 1 : 0;
}

export interface RotateOptions {
  batch: number;
  limit?: number;
  provider?: string;
  dryRun?: boolean;
  /** Progress line (stderr in the CLI). */
  progress?: (line: string) => void;
  /** Test seam: runs between reading a batch and writing it (to change rows concurrently). */
  beforeWrite?: (ids: string[]) => Promise<void>;
}

export interface RotateResult {
  currentKeyId: string;
  rotated: number;
  failed: Failure[];
  changedConcurrently: number;
  remaining: number;
  batches: number;
}

/** Retries a database step a few times (a connection blip must not end a long rotation; every step is idempotent). */
async function withRetry<T>(what: string, fn: () => Promise<T>, progress?: (line: string) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= 4) throw e;
      progress?.(
        `keys rotate: ${what} failed (${(e as Error).name}: ${(e as Error).message.split('\n')[0].slice(0, 120)}); retrying`,
      );
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

/** Re-encrypts rows not on keyring.currentId; see the header comment for the guarantees. */
export async function rotateKeys(
  db: OpsContext['daemon']['db'],
  keyring: OpsContext['daemon']['keyring'],
  o: RotateOptions,
): Promise<RotateResult> {
  const current = keyring.currentId;
  const base: Prisma.ConnectionWhereInput = {
    encKeyId: { not: current },
    ...(o.provider ? { provider: o.provider } : {}),
  };
  const total = await db.connection.count({ where: base });
  const planned = Math.min(total, o.limit ?? total);
  o.progress?.(
    `keys rotate: ${plural(total, 'connection')} not on key "${current}"${o.limit && o.limit < total ? ` (this run: at most ${o.limit})` : ''}${o.dryRun ? ' (dry run)' : ''}`,
  );
  const failures = new Map<string, Failure>();
  let rotated = 0;
  let raced = 0;
  let batches = 0;
  let lastReport = 0;
  const progress = (force = false) => {
    const now = Date.now();
    if (!force && now - lastReport < 1000) return;
    lastReport = now;
    o.progress?.(
      `keys rotate: ${progressBar(rotated + failures.size, planned)}  rotated ${rotated}, failed ${failures.size}${raced ? `, changed concurrently ${raced}` : ''}`,
    );
  };
  // A row changed under us is picked up by the next pass (if it is still on an old key).
  for (let pass = 1; pass <= 5; pass++) {
    let after: string | undefined;
    let racedThisPass = 0;
    for (;;) {
      if (o.limit !== undefined && rotated >= o.limit) break;
      const take = o.limit !== undefined ? Math.min(o.batch, o.limit - rotated) : o.batch;
      const rows = await withRetry(
        'reading a batch',
        () =>
          db.connection.findMany({
            where: { ...base, ...(after ? { id: { gt: after } } : {}) },
            select: { id: true, version: true, encKeyId: true, accessTokenEnc: true, refreshTokenEnc: true },
            orderBy: { id: 'asc' },
            take,
          }),
        o.progress,
      );
      if (rows.length === 0) break;
      after = rows[rows.length - 1].id;
      batches++;
      const writes: { id: string; version: number; encKeyId: string; a: string; r: string; na: string; nr: string }[] =
        [];
      for (const row of rows) {
        if (failures.has(row.id)) continue;
        try {
          const access = keyring.decrypt(row.accessTokenEnc);
          const refresh = keyring.decrypt(row.refreshTokenEnc);
          writes.push({
            id: row.id,
            version: row.version,
            encKeyId: row.encKeyId,
            a: row.accessTokenEnc,
            r: row.refreshTokenEnc,
            na: keyring.encrypt(access),
            nr: keyring.encrypt(refresh),
          });
        } catch (e) {
          failures.set(row.id, { id: row.id, keyId: row.encKeyId, reason: reasonOf(e) });
        }
      }
      if (o.dryRun) {
        rotated += writes.length;
      } else if (writes.length) {
        await o.beforeWrite?.(writes.map((w) => w.id));
        // Fenced: only a row still exactly as read is rewritten (same plaintext, new key).
        // A retry after a lost commit acknowledgement finds its rows already changed: counted as
        // "changed concurrently" and re-read on the next pass (by then on the current key).
        const results = await withRetry(
          'writing a batch',
          () =>
            db.$transaction(
              writes.map((w) =>
                db.connection.updateMany({
                  where: {
                    id: w.id,
                    version: w.version,
                    encKeyId: w.encKeyId,
                    accessTokenEnc: w.a,
                    refreshTokenEnc: w.r,
                  },
                  data: { accessTokenEnc: w.na, refreshTokenEnc: w.nr, encKeyId: current },
                }),
              ),
            ),
          o.progress,
        );
        for (const r of results) {
          if (r.count === 1) rotated++;
          else racedThisPass++;
        }
      }
      progress();
    }
    raced += racedThisPass;
    if (racedThisPass === 0 || o.dryRun) break;
  }
  progress(true);
  const remaining = await db.connection.count({ where: base });
  return {
    currentKeyId: current,
    rotated,
    failed: [...failures.values()],
    changedConcurrently: raced,
    remaining,
    batches,
  };
}

async function rotate(argv: string[], ctx: OpsContext): Promise<number> {
  const { flags, positionals } = parseFlags(argv, SPEC);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const batch = intFlag(flags.batch, 'batch', 1, 10_000) ?? 100;
  const limit = intFlag(flags.limit, 'limit', 1, 100_000_000);
  const provider = stringFlag(flags.provider);
  const dryRun = flags['dry-run'] === true;
  await ctx.connect();
  const r = await rotateKeys(ctx.daemon.db, ctx.daemon.keyring, {
    batch,
    limit,
    provider,
    dryRun,
    progress: (l) => ctx.err(l),
  });
  const { currentKeyId: current, rotated, failed, remaining } = r;
  if (ctx.json) {
    ctx.out(
      JSON.stringify({
        currentKeyId: current,
        dryRun,
        [dryRun ? 'wouldRotate' : 'rotated']: rotated,
        failed,
        changedConcurrently: r.changedConcurrently,
        remaining,
        batches: r.batches,
      }),
    );
  } else {
    ctx.out(
      dryRun
        ? `would rotate ${plural(rotated, 'connection')} to key "${current}"`
        : `rotated ${plural(rotated, 'connection')} to key "${current}"`,
    );
    if (failed.length) {
      ctx.out(`${plural(failed.length, 'connection')} could NOT be decrypted and were left untouched:`);
      for (const l of table(
        ['CONNECTION', 'KEY ID', 'REASON'],
        failed.map((f) => [f.id, f.keyId, f.reason]),
      ))
        ctx.out(l);
      ctx.out(
        'These rows need their tokens replaced (PUT /v1/connections/:id/tokens after the user re-authorizes) or the right key in ENCRYPTION_KEYS.',
      );
    }
    if (!dryRun)
      ctx.out(
        remaining - failed.length > 0
          ? `${plural(remaining - failed.length, 'connection')} still on older keys: run again to continue`
          : failed.length
            ? 'every readable connection is on the current key'
            : 'every connection is on the current key',
      );
  }
  return failed.length ? 1 : 0;
}

async function verify(argv: string[], ctx: OpsContext): Promise<number> {
  const { flags, positionals } = parseFlags(argv, { batch: SPEC.batch, provider: SPEC.provider });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const batch = intFlag(flags.batch, 'batch', 1, 10_000) ?? 500;
  const provider = stringFlag(flags.provider);
  await ctx.connect();
  const { db, keyring } = ctx.daemon;
  const failed: Failure[] = [];
  let checked = 0;
  let after: string | undefined;
  for (;;) {
    const rows = await db.connection.findMany({
      where: { ...(provider ? { provider } : {}), ...(after ? { id: { gt: after } } : {}) },
      select: { id: true, encKeyId: true, accessTokenEnc: true, refreshTokenEnc: true },
      orderBy: { id: 'asc' },
      take: batch,
    });
    if (rows.length === 0) break;
    after = rows[rows.length - 1].id;
    for (const r of rows) {
      checked++;
      try {
        keyring.decrypt(r.accessTokenEnc);
        keyring.decrypt(r.refreshTokenEnc);
      } catch (e) {
        failed.push({ id: r.id, keyId: r.encKeyId, reason: reasonOf(e) });
      }
    }
  }
  if (ctx.json) ctx.out(JSON.stringify({ checked, failed }));
  else {
    ctx.out(
      `checked ${plural(checked, 'connection')}: ${failed.length ? `${failed.length} fail to decrypt` : 'all decrypt'}`,
    );
    if (failed.length)
      for (const l of table(
        ['CONNECTION', 'KEY ID', 'REASON'],
        failed.map((f) => [f.id, f.keyId, f.reason]),
      ))
        ctx.out(l);
  }
  return failed.length ? 1 : 0;
}

export const keysCommand: OpsCommand = {
  name: 'keys',
  summary: 'encryption keys of stored tokens: status, rotate (re-encrypt under the newest key), verify',
  help: HELP,
  run: subcommands('keys', { status, rotate, verify }),
};
