// One error class per answer an app handles differently. Each carries the HTTP status and the
// parsed body; none carries a token or the API key.
import type { ErrorBody, ReauthReason } from './types.ts';

export class OAuthRefresherError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: ErrorBody | undefined,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** 400: the request named a bad `field`. */
export class InvalidRequestError extends OAuthRefresherError {
  readonly field: string | undefined;
  constructor(status: number, body: ErrorBody | undefined) {
    super(`invalid request: ${body?.field ?? 'body'} ${body?.message ?? ''}`.trim(), status, body);
    this.field = body?.field;
  }
}

/** 401 (no or wrong API key) and 403 (a read key on a token route). */
export class UnauthorizedError extends OAuthRefresherError {}

/** 404: no such connection (or connect session). */
export class NotFoundError extends OAuthRefresherError {}

/** 409 on a token read or refresh: the user must reconnect; `reason` says why the grant died. */
export class NeedsReauthError extends OAuthRefresherError {
  readonly reason: ReauthReason | undefined;
  constructor(status: number, body: ErrorBody | undefined) {
    const reason = body?.reauthReason as ReauthReason | undefined;
    super(`connection needs re-authorization${reason ? ` (${reason})` : ''}`, status, body);
    this.reason = reason;
  }
}

/** 409 on create: a connection with this provider and externalId exists (its id is `id`). */
export class ConflictError extends OAuthRefresherError {
  readonly id: string | undefined;
  constructor(status: number, body: ErrorBody | undefined) {
    super(body?.message ?? 'conflict', status, body);
    this.id = typeof body?.id === 'string' ? body.id : undefined;
  }
}

/** 503: the provider or the daemon's storage is unavailable; try again after `retryAfterSeconds`. */
export class ProviderUnavailableError extends OAuthRefresherError {
  constructor(
    status: number,
    body: ErrorBody | undefined,
    readonly retryAfterSeconds: number | undefined,
  ) {
    super(
      `unavailable (${body?.error ?? status})${retryAfterSeconds !== undefined ? `, retry after ${retryAfterSeconds}s` : ''}`,
      status,
      body,
    );
  }
}

/** The signature, timestamp or body of a webhook delivery did not verify. */
export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
}
