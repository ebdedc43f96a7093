// The API's error replies, one shape each: { error, field, message } for a bad request.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { isOutage } from '../util/outage.ts';
import { fieldError, type BareBody, type SchemaError } from '../validation/format.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** An either-or body whose bare shape names its fields under a prefix (validation/format.ts). */
    bareBody?: BareBody;
  }
}

export const bad = (reply: FastifyReply, field: string, message: string) =>
  reply.code(400).send({ error: 'invalid_request', field, message });

export const notFound = (reply: FastifyReply, message = 'no such connection') =>
  reply.code(404).send({ error: 'not_found', message });

/** Fastify's own errors (body size, media type, JSON) as the API's shapes; anything else is ours. */
export function errorHandler(log: Logger) {
  return (
    err: Error & { statusCode?: number; code?: string; validation?: SchemaError[]; validationContext?: string },
    req: FastifyRequest,
    reply: FastifyReply,
  ) => {
    if (err.validation) {
      const f = fieldError(err.validation, err.validationContext ?? 'body', req.routeOptions.config.bareBody);
      return bad(reply, f.field, f.message);
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413)
      return reply.code(413).send({ error: 'payload_too_large', message: 'request body is too large' });
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.statusCode === 415)
      return reply.code(415).send({ error: 'unsupported_media_type', message: 'send application/json' });
    if (
      err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
      err instanceof SyntaxError ||
      err.code === 'FST_ERR_CTP_INVALID_JSON_BODY'
    ) {
      return bad(reply, 'body', 'is not valid JSON');
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)
      return reply.code(err.statusCode).send({ error: 'invalid_request', field: 'body', message: 'malformed request' });
    if (isOutage(err)) {
      // PostgreSQL or Redis is unreachable: nothing was decided, ask the caller to retry shortly.
      log.warn(
        { err, method: req.method, route: req.routeOptions?.url },
        'API request failed: a dependency is unavailable',
      );
      return reply
        .code(503)
        .header('retry-after', '2')
        .send({ error: 'unavailable', message: 'storage temporarily unavailable; retry shortly' });
    }
    log.error({ err, method: req.method, route: req.routeOptions?.url }, 'API handler failed');
    return reply.code(500).send({ error: 'internal_error' });
  };
}
