// Structured logs. Every path that can carry a secret is redacted; token values never reach a line.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'access_token', 'refresh_token', 'id_token', 'client_secret', 'clientSecret', 'password', 'authorization',
  'token', 'tokens', 'accessToken', 'refreshToken', 'secret', 'apiKey', 'key',
  '*.access_token', '*.refresh_token', '*.id_token', '*.client_secret', '*.clientSecret', '*.authorization',
  '*.accessToken', '*.refreshToken', '*.token', '*.tokens', '*.secret', '*.apiKey',
  'req.headers.authorization', 'headers.authorization', 'headers.Authorization', '*.headers.authorization',
  'body', '*.body', 'raw', '*.raw', 'answer', '*.answer',
];

export function createLogger(opts: { level?: string; pretty?: boolean; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  const base = {
    name: opts.name ?? 'oauth-refresher',
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: safeErrorSerializer },
  };
  if (opts.destination) return pino(base, opts.destination);
  if (opts.pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(base);
}

/** Errors are logged by type and message only: messages we build never carry secrets, and causes
 *  from HTTP libraries (which may embed request bodies) are dropped. */
function safeErrorSerializer(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err).slice(0, 200) };
  const code = (err as NodeJS.ErrnoException).code;
  return { type: err.name, message: scrubSecrets(err.message).slice(0, 500), ...(code ? { code } : {}), stack: err.stack ? scrubSecrets(err.stack) : undefined };
}

/** Removes anything that looks like a token or credential from free text (provider descriptions, error messages). */
export function scrubSecrets(text: string): string {
  return text
    .replace(/(access_token|refresh_token|id_token|client_secret|code|assertion|password)=([^&\s"']+)/gi, '$1=[redacted]')
    .replace(/("?(?:access_token|refresh_token|id_token|client_secret|password)"?\s*[:=]\s*)"[^"]*"/gi, '$1"[redacted]"')
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, '$1 [redacted]')
    .replace(/\b(xox[abpre]-|xoxe\.xox[bp]-)[A-Za-z0-9-]+/g, '[redacted]')
    .replace(/\b[A-Za-z0-9_-]{40,}\b/g, '[redacted]');
}

export type { Logger };
