// Structured logs. Every path that can carry a secret is redacted; token values never reach a line.
import pino, { type Logger } from 'pino';
import { scrubSecrets } from './scrub.ts';

const REDACT_PATHS = [
  'access_token',
  'refresh_token',
  'id_token',
  'client_secret',
  'clientSecret',
  'password',
  'authorization',
  'token',
  'tokens',
  'accessToken',
  'refreshToken',
  'secret',
  'apiKey',
  'key',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.client_secret',
  '*.clientSecret',
  '*.authorization',
  '*.accessToken',
  '*.refreshToken',
  '*.token',
  '*.tokens',
  '*.secret',
  '*.apiKey',
  'req.headers.authorization',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  'body',
  '*.body',
  'raw',
  '*.raw',
  'answer',
  '*.answer',
  // Two levels down (e.g. { request: { params: { refresh_token } } }), cookies, assertions.
  '*.*.access_token',
  '*.*.refresh_token',
  '*.*.id_token',
  '*.*.client_secret',
  '*.*.authorization',
  '*.*.Authorization',
  'cookie',
  '*.cookie',
  '*.*.cookie',
  'set-cookie',
  '*.set-cookie',
  '*.*.set-cookie',
  'client_assertion',
  '*.client_assertion',
  '*.Authorization',
  // Configuration objects: keys, secrets and URLs that may carry passwords.
  'webhookSecret',
  '*.webhookSecret',
  'webhookSecrets',
  '*.webhookSecrets',
  'encryptionKeys',
  '*.encryptionKeys',
  'apiKeys',
  '*.apiKeys',
  'databaseUrl',
  '*.databaseUrl',
  'redisUrl',
  '*.redisUrl',
  'webhookUrl',
  '*.webhookUrl',
];

export function createLogger(
  opts: { level?: string; pretty?: boolean; name?: string; destination?: pino.DestinationStream } = {},
): Logger {
  const base = {
    name: opts.name ?? 'oauth-refresher',
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: safeErrorSerializer, error: (v: unknown) => (v instanceof Error ? safeErrorSerializer(v) : v) },
    // Free-text messages are scrubbed too (a message built from a provider answer or an exception).
    hooks: {
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(
          this,
          args.map((a) => (typeof a === 'string' ? scrubSecrets(a) : a)),
        );
      },
    },
  };
  if (opts.destination) return pino(base, opts.destination);
  if (opts.pretty) {
    return pino({
      ...base,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
      },
    });
  }
  return pino(base);
}

/** Errors are logged by type and message only: messages we build never carry secrets, and causes
 *  from HTTP libraries (which may embed request bodies) are dropped. */
function safeErrorSerializer(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err).slice(0, 200) };
  const code = (err as NodeJS.ErrnoException).code;
  return {
    type: err.name,
    message: scrubSecrets(err.message).slice(0, 500),
    ...(code ? { code } : {}),
    stack: err.stack ? scrubSecrets(err.stack) : undefined,
  };
}

export type { Logger };
