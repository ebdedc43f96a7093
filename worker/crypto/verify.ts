// Start-up key check: every key id that encrypted stored tokens must be in ENCRYPTION_KEYS, and
// its key material must actually decrypt them. Fails the start with a clear message rather than
// letting every refresh of those rows fail later.
import type { Logger } from 'pino';
import { ConfigError } from '../config/env.ts';
import type { DaemonExtension, ExtensionHost } from '../interfaces.ts';
import type { Db } from '../store/db.ts';
import { countConnectionsByKey, sampleCiphertexts } from '../store/keys.ts';
import { DecryptError, type Keyring } from './keyring.ts';

export class KeyCheckError extends ConfigError {
  constructor(
    message: string,
    readonly keyId: string,
  ) {
    super('ENCRYPTION_KEYS', message);
    this.name = 'KeyCheckError';
  }
}

export interface KeyCheckResult {
  /** Rows per key id found in the database. */
  rowsByKey: Record<string, number>;
  /** Rows that failed authentication although their key decrypted other rows (tampered/corrupt). */
  corruptSamples: string[];
}

/**
 * For each encKeyId present in the Connection table: the id must be configured, and the key must
 * decrypt at least one of a few sample rows. A key that decrypts none of them is wrong key
 * material; a single failing row next to good ones is reported (corruptSamples), not fatal.
 */
export async function verifyKeysAgainstDb(
  db: Db,
  keyring: Keyring,
  opts: { samples?: number; log?: Logger } = {},
): Promise<KeyCheckResult> {
  const samples = opts.samples ?? 5;
  const groups = await countConnectionsByKey(db);
  const rowsByKey: Record<string, number> = {};
  const corruptSamples: string[] = [];
  const configured = new Set(keyring.ids);
  for (const g of groups) {
    rowsByKey[g.encKeyId] = g.n;
    if (!configured.has(g.encKeyId)) {
      throw new KeyCheckError(
        `key id "${g.encKeyId}" encrypted ${g.n} stored connection(s) but is not in ENCRYPTION_KEYS (configured: ${[...configured].join(', ')}). ` +
          `Add it back as "${g.encKeyId}:<base64 key>" (after the current key), or finish \`npm run ops -- keys rotate\` before removing it.`,
        g.encKeyId,
      );
    }
    const rows = await sampleCiphertexts(db, g.encKeyId, samples);
    let good = 0;
    const bad: string[] = [];
    for (const r of rows) {
      try {
        keyring.decrypt(r.refreshTokenEnc);
        keyring.decrypt(r.accessTokenEnc);
        good++;
      } catch (e) {
        if (!(e instanceof DecryptError)) throw e;
        bad.push(r.id);
      }
    }
    if (good === 0 && bad.length > 0) {
      throw new KeyCheckError(
        `key "${g.encKeyId}" in ENCRYPTION_KEYS does not decrypt stored tokens (${bad.length} of ${bad.length} sampled rows fail authentication): wrong key material for this id?`,
        g.encKeyId,
      );
    }
    if (bad.length > 0) {
      corruptSamples.push(...bad);
      opts.log?.error(
        { keyId: g.encKeyId, connectionIds: bad },
        'stored token ciphertext fails authentication (tampered or corrupt rows); `npm run ops -- keys verify` lists all of them',
      );
    }
  }
  return { rowsByKey, corruptSamples };
}

/** Runs verifyKeysAgainstDb when the daemon starts; a failure stops the start. */
export function keyCheckExtension(): DaemonExtension {
  return {
    name: 'key-check',
    async start(d: Pick<ExtensionHost, 'db' | 'keyring' | 'log'>) {
      const r = await verifyKeysAgainstDb(d.db, d.keyring, { log: d.log });
      const stale = Object.entries(r.rowsByKey)
        .filter(([k]) => k !== d.keyring.currentId)
        .reduce((s, [, n]) => s + n, 0);
      if (stale > 0)
        d.log.info(
          { rowsByKey: r.rowsByKey, currentKeyId: d.keyring.currentId },
          `${stale} connection(s) are encrypted under older keys; \`npm run ops -- keys rotate\` re-encrypts them`,
        );
    },
  };
}
