// oauth-refresher-client: a typed client for the oauth-refresher daemon.
export { OAuthRefresher, type AccessToken, type GetTokenOptions, type OAuthRefresherOptions } from './client.ts';
export {
  ConflictError,
  InvalidRequestError,
  NeedsReauthError,
  NotFoundError,
  OAuthRefresherError,
  ProviderUnavailableError,
  UnauthorizedError,
  WebhookVerificationError,
} from './errors.ts';
export { verifyWebhook, type WebhookHeaders } from './webhooks.ts';
export type * from './types.ts';
