// The logger's redaction and scrubbing on objects shaped like the ones that can carry secrets.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../worker/config/env.ts';
import { redactEchoedSecrets, redactKnown } from '../../worker/log/scrub.ts';
import { testEnv } from '../helpers/harness.ts';
import { captureLogger, findSecrets } from './support.ts';

const hex = (n: number) => randomBytes(n).toString('hex');

describe('logger redaction', () => {
  it('removes tokens, client secrets, authorization headers, bodies, config secrets and error messages with credentials', () => {
    const at = `at_${hex(8)}`;
    const rt = `rt_${hex(8)}`;
    const cs = `cs_${hex(8)}`;
    const basic = Buffer.from(`id:${cs}`).toString('base64');
    const apiKey = `apikey-${hex(10)}`;
    const whsec = `whsec_${randomBytes(24).toString('base64')}`;
    const dbPass = `pw${hex(8)}`;
    const config = loadConfig(
      testEnv({
        API_KEY: apiKey,
        WEBHOOK_URL: `https://hooks.example/x?token=${whsec}x`,
        WEBHOOK_SECRET: whsec,
        DATABASE_URL: `postgresql://u:${dbPass}@127.0.0.1:5432/db`,
      }),
    );
    const { log, lines } = captureLogger('trace');
    log.info({ access_token: at, refresh_token: rt, client_secret: cs }, 'top level');
    log.info(
      { tokens: { accessToken: at, refreshToken: rt }, answer: { access_token: at }, raw: `refresh_token=${rt}` },
      'nested',
    );
    log.info(
      {
        request: {
          headers: { authorization: `Basic ${basic}` },
          body: `grant_type=refresh_token&refresh_token=${rt}&client_secret=${cs}`,
        },
      },
      'request',
    );
    log.info({ req: { headers: { authorization: `Bearer ${apiKey}` } }, res: { body: { access_token: at } } }, 'http');
    log.info({ deep: { params: { refresh_token: rt, client_secret: cs } } }, 'two levels');
    log.info({ config }, 'config');
    log.error(
      { err: new Error(`provider said: refresh_token=${rt}&client_secret=${cs}; header Bearer ${at}`) },
      'error object',
    );
    log.error(
      { error: Object.assign(new Error(`"access_token":"${at}"`), { code: 'E_X' }) },
      'error under another key',
    );
    log.warn(`free text with Bearer ${apiKey} and Basic ${basic}`);
    expect(lines).toHaveLength(9);
    // Positive control: non-secret fields survive.
    expect(lines.join('')).toContain('top level');
    expect(lines.join('')).toContain('E_X');
    const hits = findSecrets(
      [at, rt, cs, basic, apiKey, whsec, dbPass, config.encryptionKeys[0].key.toString('base64')],
      lines.map((l, i) => ({ where: `line ${i}`, text: l })),
    );
    expect(hits).toEqual({});
  });

  it('removes the values we sent from what a provider echoes back', () => {
    const rt = `rt-${hex(6)}`;
    expect(redactKnown(`bad token ${rt}, really ${rt}`, [rt, undefined, ''])).toBe(
      'bad token [redacted], really [redacted]',
    );
    const c = redactEchoedSecrets(
      { kind: 'transient', code: rt, description: `client secret s3cr3t-value ${rt}`, uncertain: false },
      [rt, 's3cr3t-value'],
    );
    expect(c).toEqual({
      kind: 'transient',
      code: '[redacted]',
      description: 'client secret [redacted] [redacted]',
      uncertain: false,
    });
    const tokens = { kind: 'tokens', tokens: { accessToken: 'x' }, httpStatus: 200 };
    expect(redactEchoedSecrets(tokens, [rt])).toBe(tokens);
  });
});
