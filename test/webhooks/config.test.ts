// WEBHOOK_SECRET / WEBHOOK_SECRETS take the Standard Webhooks form (whsec_ + base64 of 24-64
// bytes); anything else fails at start, naming the variable and how to make one.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, configWarnings, loadConfig } from '../../worker/config/env.ts';
import { runCli } from '../../worker/ops/cli.ts';
import { webhooksCommand } from '../../worker/ops/commands/webhooks.ts';
import { WEBHOOK_DEFAULTS, dispatcherTuningFromEnv, webhookExtension } from '../../worker/webhooks/dispatcher.ts';
import { signingKeys } from '../../worker/webhooks/signing.ts';

const good = {
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/x',
  API_KEY: 'k'.repeat(32),
  ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
  WEBHOOK_URL: 'https://hooks.example.com/x',
};
const whsec = (n = 32) => `whsec_${randomBytes(n).toString('base64')}`;

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig({ ...good, ...env });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  return expect.unreachable('should have thrown');
}

describe('webhook secrets', () => {
  const HOW = 'npm run ops -- webhooks secret';
  it.each([
    ['an old-style plain secret', { WEBHOOK_SECRET: 'a-long-plain-shared-secret-0123456789' }, 'WEBHOOK_SECRET', HOW],
    ['another prefix', { WEBHOOK_SECRET: whsec().replace('whsec_', 'whsec-') }, 'WEBHOOK_SECRET', HOW],
    ['too short (16 bytes)', { WEBHOOK_SECRET: whsec(16) }, 'WEBHOOK_SECRET', HOW],
    ['too long (65 bytes)', { WEBHOOK_SECRET: whsec(65) }, 'WEBHOOK_SECRET', HOW],
    ['base64url characters', { WEBHOOK_SECRET: `whsec_${'_-'.repeat(16)}` }, 'WEBHOOK_SECRET', HOW],
    ['missing padding', { WEBHOOK_SECRET: whsec(32).replace(/=+$/, '') }, 'WEBHOOK_SECRET', HOW],
    ['two in WEBHOOK_SECRET', { WEBHOOK_SECRET: `${whsec()} ${whsec()}` }, 'WEBHOOK_SECRET', 'WEBHOOK_SECRETS'],
    [
      'a bad one among WEBHOOK_SECRETS',
      { WEBHOOK_SECRETS: `${whsec()} plain-old-secret-xxxxxxxxxxxxxxxx` },
      'WEBHOOK_SECRETS',
      HOW,
    ],
    ['none with WEBHOOK_URL', {}, 'WEBHOOK_SECRET', HOW],
  ])('%s fails at start naming the variable (and what to do)', (_what, env, variable, hint) => {
    const e = configError(env);
    expect(e.variable).toBe(variable);
    expect(e.message).toContain(hint);
    // The secret itself never appears in the error.
    for (const v of Object.values(env)) for (const part of String(v).split(' ')) expect(e.message).not.toContain(part);
  });

  it('takes WEBHOOK_SECRET, or WEBHOOK_SECRETS space- or comma-separated with the first as current', () => {
    const [a, b, c] = [whsec(), whsec(24), whsec(64)];
    expect(loadConfig({ ...good, WEBHOOK_SECRET: a }).webhookSecrets).toEqual([a]);
    expect(loadConfig({ ...good, WEBHOOK_SECRETS: `${a} ${b}` }).webhookSecrets).toEqual([a, b]);
    expect(loadConfig({ ...good, WEBHOOK_SECRETS: ` ${c},${a} ,  ${b}\n` }).webhookSecrets).toEqual([c, a, b]);
    expect(configWarnings).toEqual([]);
    expect(loadConfig({ ...good, WEBHOOK_SECRET: b, WEBHOOK_SECRETS: a }).webhookSecrets).toEqual([a]);
    expect(configWarnings.join('\n')).toMatch(/WEBHOOK_SECRET is ignored/);
    expect(configError({ WEBHOOK_SECRETS: `${a} ${a}` }).variable).toBe('WEBHOOK_SECRETS');
    expect(loadConfig({ ...good, WEBHOOK_URL: undefined }).webhookSecrets).toEqual([]);
    // The HMAC key is the decoded base64 part.
    expect(signingKeys(a)[0]).toEqual(Buffer.from(a.slice('whsec_'.length), 'base64'));
  });

  it('the dispatcher runs only with a URL and a secret', () => {
    const c = loadConfig({ ...good, WEBHOOK_SECRET: whsec(), ROLES: 'worker' });
    expect(webhookExtension(c, {}, {})).not.toBeNull();
    expect(webhookExtension(loadConfig({ ...good, WEBHOOK_URL: undefined, ROLES: 'worker' }), {}, {})).toBeNull();
  });

  it('delivers with a 15 s timeout by default', () => {
    expect(WEBHOOK_DEFAULTS.timeoutMs).toBe(15_000);
    expect(dispatcherTuningFromEnv({}).timeoutMs).toBe(15_000);
  });

  it('`ops webhooks secret` prints a new secret that the daemon accepts, with no configuration at all', async () => {
    const run = async (argv: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(
        argv,
        { out: (l) => out.push(l), err: (l) => err.push(l), tty: false },
        () => {
          throw new ConfigError('ENCRYPTION_KEY', 'is required but not set');
        },
        [webhooksCommand],
      );
      return { code, out, err };
    };
    const text = await run(['webhooks', 'secret']);
    expect(text.code, text.err.join('\n')).toBe(0);
    expect(text.out).toHaveLength(1);
    const [secret] = text.out;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(loadConfig({ ...good, WEBHOOK_SECRET: secret }).webhookSecrets).toEqual([secret]);
    const json = await run(['webhooks', 'secret', '--json']);
    const parsed = JSON.parse(json.out[0]) as { secret: string };
    expect(parsed.secret).not.toBe(secret);
    expect(signingKeys(parsed.secret)[0]).toHaveLength(32);
    // Every other subcommand still needs the configuration.
    expect((await run(['webhooks', 'list'])).code).toBe(2);
  });
});
