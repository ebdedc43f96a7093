// AES-256-GCM for tokens at rest. Ciphertext format: v1.<keyId>.<iv b64url>.<tag b64url>.<data b64url>.
// The first key encrypts; every key decrypts, so keys rotate without downtime.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

export class DecryptError extends Error {
  constructor(
    public readonly keyId: string,
    reason: string,
  ) {
    super(`token ciphertext cannot be decrypted (key ${keyId}): ${reason}`);
    this.name = 'DecryptError';
  }
}

export class Keyring {
  private readonly keys: Map<string, Buffer>;
  readonly currentId: string;
  private readonly fingerprintKey: Buffer;

  constructor(keys: { id: string; key: Buffer }[]) {
    if (keys.length === 0) throw new Error('Keyring needs at least one key');
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
    this.currentId = keys[0].id;
    // Fingerprints must be stable across key rotation, so derive them from the oldest key material
    // that is stable: a fixed label over every key would change on rotation; use the last key (the oldest).
    this.fingerprintKey = createHmac('sha256', keys[keys.length - 1].key)
      .update('oauth-refresher/fingerprint')
      .digest();
  }

  get ids(): string[] {
    return [...this.keys.keys()];
  }

  encrypt(plain: string): string {
    const key = this.keys.get(this.currentId)!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return ['v1', this.currentId, iv.toString('base64url'), tag.toString('base64url'), data.toString('base64url')].join(
      '.',
    );
  }

  keyIdOf(ciphertext: string): string {
    return ciphertext.split('.')[1] ?? '';
  }

  decrypt(ciphertext: string): string {
    const parts = ciphertext.split('.');
    if (parts.length !== 5 || parts[0] !== 'v1') throw new DecryptError(parts[1] ?? '?', 'not a v1 ciphertext');
    const [, keyId, ivB64, tagB64, dataB64] = parts;
    const key = this.keys.get(keyId);
    if (!key) throw new DecryptError(keyId, 'key id not in ENCRYPTION_KEYS');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(ivB64, 'base64url'));
      decipher.setAuthTag(Buffer.from(tagB64, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(dataB64, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new DecryptError(keyId, 'authentication failed (wrong key or tampered data)');
    }
  }

  /** A short keyed hash: tells two tokens apart in attempt history without storing either. */
  fingerprint(secret: string): string {
    return createHmac('sha256', this.fingerprintKey).update(secret).digest('hex').slice(0, 12);
  }
}
