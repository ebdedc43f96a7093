// Encryption keys: several keys (first writes, all read), the start-up key check, and
// `ops keys rotate` re-encrypting every row under the newest key while the daemon keeps rotating
// tokens, resumable, reporting (never overwriting) rows that fail authentication.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../worker/config/env.ts';
import { DecryptError, Keyring } from '../../worker/crypto/keyring.ts';
import { keyCheckExtension, KeyCheckError, verifyKeysAgainstDb } from '../../worker/crypto/verify.ts';
import { Daemon } from '../../worker/daemon.ts';
import { keysCommand, rotateKeys } from '../../worker/ops/commands/keys.ts';
import { createDb, type Db } from '../../worker/store/db.ts';
import { FakeProvider } from '../fakes/fake-provider.ts';
import {
  startDaemon,
  TEST_ENCRYPTION_KEY,
  testEnv,
  waitFor,
  writeProvidersFile,
  type TestDaemon,
} from '../helpers/harness.ts';
import { captureLogger, isolatedDatabase, runOps } from './support.ts';

const OLD = TEST_ENCRYPTION_KEY; // key id "k1" when given as ENCRYPTION_KEY
const NEW = randomBytes(32).toString('base64');
const WRONG = randomBytes(32).toString('base64');
const fake = new FakeProvider({ rotation: 'always', reuseDetection: true, accessTtlSeconds: 3 });
let iso: { url: string; drop: () => Promise<void> };
let db: Db;
let providersFile: string;
let d: TestDaemon | undefined;

const rotatingIds: { id: string; grantId: string }[] = [];
const tampered: { id: string; accessTokenEnc: string; refreshTokenEnc: string }[] = [];
const raced: string[] = [];

function env(extra: Record<string, string | undefined>) {
  return { DATABASE_URL: iso.url, PROVIDERS_FILE: providersFile, ...extra };
}

async function tryStart(extra: Record<string, string | undefined>) {
  const { log, lines } = captureLogger('info');
  const daemon = new Daemon(loadConfig(testEnv(env({ ROLES: 'api', ...extra }))), {
    log,
    extensions: [keyCheckExtension()],
  });
  try {
    await daemon.start();
    return { ok: true as const, lines };
  } catch (e) {
    return { ok: false as const, error: e as Error, lines };
  } finally {
    await daemon.close();
  }
}

beforeAll(async () => {
  iso = await isolatedDatabase('keys');
  db = createDb(iso.url, { poolSize: 4 });
  await fake.start();
  providersFile = writeProvidersFile({
    rot: {
      tokenUrl: fake.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
      refreshLeadSec: 1,
    },
    race: {
      tokenUrl: fake.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
      refreshLeadSec: 1,
    },
    idle: {
      tokenUrl: fake.tokenUrl,
      clientAuth: 'basic',
      clientId: 'client-id',
      clientSecret: 'client-secret',
      rotation: 'always',
      refreshLeadSec: 1,
    },
  });
  // Phase 1: one key (ENCRYPTION_KEY = id k1).
  d = await startDaemon(env({ ENCRYPTION_KEY: OLD }));
  for (let i = 0; i < 7; i++) {
    const g = fake.issueGrant();
    const res = await d.api('POST', '/v1/connections', {
      provider: 'rot',
      externalId: `r${i}`,
      tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 3 },
    });
    expect(res.status).toBe(201);
    rotatingIds.push({ id: res.body.id, grantId: g.grantId });
  }
  for (let i = 0; i < 20; i++) {
    const res = await d.api('POST', '/v1/connections', {
      provider: 'race',
      externalId: `x${i}`,
      tokens: { access_token: `race-at-${i}-0`, refresh_token: `race-rt-${i}-0`, expires_in: 86400 },
    });
    expect(res.status).toBe(201);
    raced.push(res.body.id);
  }
  // Tampered last, so the start-up check's sample (most recently updated rows) includes them.
  for (let i = 0; i < 2; i++) {
    const g = fake.issueGrant();
    const res = await d.api('POST', '/v1/connections', {
      provider: 'idle',
      externalId: `t${i}`,
      tokens: { access_token: g.accessToken, refresh_token: g.refreshToken, expires_in: 86400 },
    });
    expect(res.status).toBe(201);
    // Tamper: flip one byte of the ciphertext data; GCM authentication must catch it.
    const row = (await db.connection.findUnique({ where: { id: res.body.id } }))!;
    const parts = row.refreshTokenEnc.split('.');
    const data = Buffer.from(parts[4], 'base64url');
    data[0] ^= 0x01;
    parts[4] = data.toString('base64url');
    const updated = await db.connection.update({ where: { id: row.id }, data: { refreshTokenEnc: parts.join('.') } });
    tampered.push({ id: row.id, accessTokenEnc: updated.accessTokenEnc, refreshTokenEnc: updated.refreshTokenEnc });
  }
  await d.stop();
  d = undefined;
});

afterAll(async () => {
  await d?.stop();
  await fake.close();
  await db?.$disconnect();
  await iso?.drop();
});

describe('keyring', () => {
  it('encrypts with the first key, decrypts with any, and detects tampering', () => {
    const a = { id: 'a', key: randomBytes(32) };
    const b = { id: 'b', key: randomBytes(32) };
    const old = new Keyring([b]);
    const both = new Keyring([a, b]);
    const c1 = old.encrypt('secret-token-value');
    expect(c1).toMatch(/^v1\.b\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(c1).not.toContain('secret-token-value');
    expect(both.decrypt(c1)).toBe('secret-token-value');
    const c2 = both.encrypt('secret-token-value');
    expect(both.keyIdOf(c2)).toBe('a');
    expect(() => old.decrypt(c2)).toThrow(DecryptError);
    const p = c2.split('.');
    p[3] = Buffer.alloc(16).toString('base64url');
    expect(() => both.decrypt(p.join('.'))).toThrow(/authentication failed/);
    // Same key id, other key material: authentication fails, nothing is returned.
    expect(() => new Keyring([{ id: 'b', key: randomBytes(32) }]).decrypt(c1)).toThrow(/authentication failed/);
  });

  it('a missing or malformed key fails at configuration time, naming the variable', () => {
    const base = testEnv({ ENCRYPTION_KEY: undefined });
    expect(() => loadConfig(base)).toThrow(ConfigError);
    expect(() => loadConfig(base)).toThrow(/ENCRYPTION_KEY/);
    expect(() => loadConfig({ ...base, ENCRYPTION_KEYS: 'k2:short' })).toThrow(/ENCRYPTION_KEYS.*k2.*32 bytes/);
    expect(() => loadConfig({ ...base, ENCRYPTION_KEYS: `k2:${NEW},k2:${OLD}` })).toThrow(/appears twice/);
  });
});

describe('start-up key check', () => {
  it('refuses to start when a key id used by stored rows is not configured, naming ENCRYPTION_KEYS and the id', async () => {
    const r = await tryStart({ ENCRYPTION_KEY: undefined, ENCRYPTION_KEYS: `k2:${NEW}` });
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.error).toBeInstanceOf(KeyCheckError);
    expect(r.ok === false && r.error.message).toMatch(
      /^ENCRYPTION_KEYS: key id "k1" encrypted 29 stored connection\(s\) but is not in ENCRYPTION_KEYS/,
    );
  });

  it('refuses to start when the key material for an id is wrong', async () => {
    const r = await tryStart({ ENCRYPTION_KEY: undefined, ENCRYPTION_KEYS: `k2:${NEW},k1:${WRONG}` });
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.error.message).toMatch(
      /ENCRYPTION_KEYS: key "k1" in ENCRYPTION_KEYS does not decrypt stored tokens/,
    );
    // The message never carries key material.
    expect(r.ok === false && r.error.message).not.toContain(WRONG);
  });

  it('starts with the right keys and reports tampered rows by id', async () => {
    // The check samples the most recently updated rows of each key id: make the tampered ones that.
    await db.connection.updateMany({
      where: { id: { in: tampered.map((t) => t.id) } },
      data: { updatedAt: new Date(Date.now() + 1000) },
    });
    const r = await tryStart({ ENCRYPTION_KEY: undefined, ENCRYPTION_KEYS: `k2:${NEW},k1:${OLD}` });
    expect(r.ok).toBe(true);
    const err = r.lines.map((l) => JSON.parse(l)).find((l) => /fails authentication/.test(l.msg));
    expect(err?.connectionIds?.sort()).toEqual(tampered.map((t) => t.id).sort());
    const direct = await verifyKeysAgainstDb(db, new Keyring([{ id: 'k1', key: Buffer.from(OLD, 'base64') }]));
    expect(direct.rowsByKey).toEqual({ k1: 29 });
    expect(direct.corruptSamples.sort()).toEqual(tampered.map((t) => t.id).sort());
  });
});

describe('ops keys rotate', () => {
  it('re-encrypts every readable row under the newest key while the daemon keeps rotating tokens; resumable; tampered rows reported, untouched', async () => {
    const keysEnv = { ENCRYPTION_KEY: undefined, ENCRYPTION_KEYS: `k2:${NEW},k1:${OLD}` };
    // Phase 2: the new key goes first on the daemon; it keeps refreshing (new writes use k2).
    d = await startDaemon(env(keysEnv), { extensions: [keyCheckExtension()] });
    const versionsBefore = new Map((await db.connection.findMany()).map((r) => [r.id, r.version]));

    const status1 = await runOps(keysCommand, ['status', '--json'], env(keysEnv));
    const s1 = JSON.parse(status1.out[0]);
    expect(s1.currentKeyId).toBe('k2');
    expect(s1.keys.find((k: { keyId: string }) => k.keyId === 'k1').rows).toBeGreaterThanOrEqual(2);

    const dry = await runOps(keysCommand, ['rotate', '--dry-run', '--json'], env(keysEnv));
    expect(
      JSON.parse(dry.out[0])
        .failed.map((f: { id: string }) => f.id)
        .sort(),
    ).toEqual(tampered.map((t) => t.id).sort());
    expect(await db.connection.count({ where: { encKeyId: 'k1' } })).toBeGreaterThanOrEqual(2);

    // A first, partial run (as if interrupted): at most 2 rows.
    const part = await runOps(
      keysCommand,
      ['rotate', '--batch', '1', '--limit', '2', '--provider', 'rot', '--json'],
      env(keysEnv),
    );
    expect(part.code).toBe(0);
    expect(JSON.parse(part.out[0]).rotated).toBeLessThanOrEqual(2);

    // The full run continues where things stand, while the app replaces tokens of the 'race'
    // connections: a replaced row must never be overwritten by the rotation's stale re-encryption.
    let stop = false;
    const lastPut = new Map<string, string>();
    const putter = (async () => {
      for (let round = 1; !stop && round < 200; round++) {
        for (const [i, id] of raced.entries()) {
          if (stop) break;
          const res = await d.api('PUT', `/v1/connections/${id}/tokens`, {
            access_token: `race-at-${i}-${round}`,
            refresh_token: `race-rt-${i}-${round}`,
            expires_in: 86400,
          });
          expect(res.status).toBe(200);
          lastPut.set(id, `race-rt-${i}-${round}`);
        }
      }
    })();
    const full = await runOps(keysCommand, ['rotate', '--batch', '1'], env(keysEnv));
    stop = true;
    await putter;
    expect(full.code).toBe(1);
    const out = full.out.join('\n');
    for (const t of tampered) expect(out).toContain(t.id);
    expect(out).toMatch(/2 connections could NOT be decrypted and were left untouched/);
    expect(full.err.some((l) => /keys rotate: \[#*-*\]/.test(l))).toBe(true);

    // Rotated rows: on k2 and still the provider's current tokens; the daemon kept refreshing them.
    await waitFor(
      async () => {
        const rows = await db.connection.findMany({ where: { provider: 'rot' } });
        return rows.every((r) => r.version > versionsBefore.get(r.id)! + 1);
      },
      30_000,
      'refreshes after the rotation',
    );
    const rows = await db.connection.findMany({ where: { provider: 'rot' } });
    const k2 = new Keyring([{ id: 'k2', key: Buffer.from(NEW, 'base64') }]);
    for (const r of rows) {
      expect(r.encKeyId).toBe('k2');
      expect(r.status).toBe('active');
      const g = rotatingIds.find((x) => x.id === r.id)!;
      expect(k2.decrypt(r.refreshTokenEnc)).toBe(fake.currentRefreshToken(g.grantId));
      k2.decrypt(r.accessTokenEnc);
    }
    expect(fake.stats().reuseEvents).toBe(0);
    // Tampered rows: exactly as they were.
    for (const t of tampered) {
      const r = (await db.connection.findUnique({ where: { id: t.id } }))!;
      expect([r.encKeyId, r.accessTokenEnc, r.refreshTokenEnc]).toEqual(['k1', t.accessTokenEnc, t.refreshTokenEnc]);
    }
    for (const id of raced) {
      const r = (await db.connection.findUnique({ where: { id } }))!;
      expect(r.encKeyId).toBe('k2');
      expect(k2.decrypt(r.refreshTokenEnc)).toBe(lastPut.get(id) ?? `race-rt-${raced.indexOf(id)}-0`);
    }
    // A refresh of a tampered row reports it (decrypt_failed) without calling the provider or touching the tokens.
    const tried = await d.api('POST', `/v1/connections/${tampered[0].id}/refresh`);
    expect(tried.body).toMatchObject({ outcome: 'misconfigured', code: 'decrypt_failed' });
    expect(JSON.stringify(tried.body)).toMatch(/authentication failed/);
    const after = (await db.connection.findUnique({ where: { id: tampered[0].id } }))!;
    expect([after.accessTokenEnc, after.refreshTokenEnc, after.lastErrorCode]).toEqual([
      tampered[0].accessTokenEnc,
      tampered[0].refreshTokenEnc,
      'decrypt_failed',
    ]);
    const verify = await runOps(keysCommand, ['verify', '--json'], env(keysEnv));
    expect(verify.code).toBe(1);
    expect(
      JSON.parse(verify.out[0])
        .failed.map((f: { id: string }) => f.id)
        .sort(),
    ).toEqual(tampered.map((t) => t.id).sort());
    const status2 = await runOps(keysCommand, ['status', '--json'], env(keysEnv));
    expect(JSON.parse(status2.out[0]).keys).toEqual([
      { keyId: 'k1', rows: 2, state: 'configured (rotate away)' },
      { keyId: 'k2', rows: 27, state: 'current' },
    ]);
    await d.stop();
    d = undefined;
  });
});

describe('rotation fence', () => {
  it('a row refreshed or replaced between the rotation reading and writing it is never overwritten; it is re-read on the next pass', async () => {
    const k1 = new Keyring([{ id: 'k1', key: Buffer.from(OLD, 'base64') }]);
    const both = new Keyring([
      { id: 'k2', key: Buffer.from(NEW, 'base64') },
      { id: 'k1', key: Buffer.from(OLD, 'base64') },
    ]);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const row = await db.connection.create({
        data: {
          provider: 'fence',
          externalId: `f${i}`,
          accessTokenEnc: k1.encrypt(`fence-at-${i}`),
          refreshTokenEnc: k1.encrypt(`fence-rt-${i}`),
          encKeyId: 'k1',
        },
      });
      ids.push(row.id);
    }
    let fired = false;
    const r = await rotateKeys(db, both, {
      batch: 10,
      provider: 'fence',
      beforeWrite: async (batchIds) => {
        if (fired) return;
        fired = true;
        expect(batchIds.sort()).toEqual([...ids].sort());
        // A refresh by a process still on the old key list: new tokens, version+1, still k1.
        await db.connection.update({
          where: { id: ids[0] },
          data: {
            refreshTokenEnc: k1.encrypt('refreshed-rt'),
            accessTokenEnc: k1.encrypt('refreshed-at'),
            version: { increment: 1 },
          },
        });
        // A token replacement by a process on the new key list.
        await db.connection.update({
          where: { id: ids[1] },
          data: {
            refreshTokenEnc: both.encrypt('replaced-rt'),
            accessTokenEnc: both.encrypt('replaced-at'),
            encKeyId: 'k2',
            version: { increment: 1 },
          },
        });
      },
    });
    expect(r.changedConcurrently).toBe(2);
    expect(r.rotated).toBe(4); // 3 in the first pass, the refreshed row in the second
    expect(r.remaining).toBe(0);
    const rows = new Map((await db.connection.findMany({ where: { provider: 'fence' } })).map((x) => [x.id, x]));
    expect(both.decrypt(rows.get(ids[0])!.refreshTokenEnc)).toBe('refreshed-rt');
    expect(both.decrypt(rows.get(ids[1])!.refreshTokenEnc)).toBe('replaced-rt');
    for (let i = 2; i < 5; i++) expect(both.decrypt(rows.get(ids[i])!.refreshTokenEnc)).toBe(`fence-rt-${i}`);
    for (const x of rows.values()) {
      expect(x.encKeyId).toBe('k2');
      expect(both.keyIdOf(x.refreshTokenEnc)).toBe('k2');
      expect(both.keyIdOf(x.accessTokenEnc)).toBe('k2');
    }
    // Rotation itself never bumps the version (it must not fence out a refresh in flight).
    expect(rows.get(ids[2])!.version).toBe(1);
  });
});
