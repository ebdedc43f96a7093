import type { ErrorSpec, MetadataRef } from './types.ts';

/** RFC 6749 error vocabulary plus the dead-grant words most providers use. */
export const DEFAULT_ERRORS: ErrorSpec = {
  codeFields: ['error'],
  descriptionFields: ['error_description', 'message'],
  terminal: ['invalid_grant'],
  terminalDescriptions: [],
  interactionRequired: ['interaction_required', 'consent_required', 'login_required'],
  credential: ['invalid_client', 'unauthorized_client'],
  transient: ['temporarily_unavailable', 'server_error', 'slow_down'],
  descriptionReasons: [],
};

export const DEFAULTS = {
  clientAuth: 'body' as const,
  paramsIn: 'form' as const,
  responseFormat: 'auto' as const,
  rotation: 'optional' as const,
  refreshLeadSec: 300,
  concurrency: 20,
  ratePerSecond: 0,
  defaultLifetimeSec: 3600,
};

/** Metadata fields that commonly name the provider-side user (OIDC sub, Slack authed_user, Notion owner). */
export const DEFAULT_USER_KEYS: MetadataRef[] = [
  { path: 'user_id' },
  { path: 'sub' },
  { path: 'email' },
  { path: 'user.id' },
  { path: 'authed_user.id' },
  { path: 'owner.user.id' },
];
