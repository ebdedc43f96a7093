// What a provider definition can say. Built-ins live in builtin.ts; PROVIDERS_FILE adds or overrides.
// Quirks are data plus small hooks here, never `if (provider === ...)` in the core.

export type ClientAuth = 'basic' | 'body' | 'both';
export type ParamsIn = 'form' | 'json' | 'query';
export type Rotation = 'always' | 'optional' | 'never';

export interface ExpirySpec {
  /** Where the access token's lifetime comes from. */
  source: 'expires_in' | 'expires_in_ms' | 'expires_at' | 'none';
  /** Field name (default per source: expires_in / expires_at). */
  field?: string;
  /** Lifetime to assume when the answer gives none (seconds). */
  defaultLifetimeSec?: number;
  /**
   * With source none: refresh on this cron schedule (UTC, 5 or 6 fields, e.g. Salesforce daily)
   * instead of by expiry. REFRESH_CRON_<PROVIDER> overrides it.
   */
  cron?: string;
}

/** A predicate over a 200 body that says "this is an error" (Slack ok:false, GitHub error present). */
export interface BodyErrorPredicate {
  field: string;
  equals?: string | number | boolean | null;
  present?: boolean;
}

export interface ErrorSpec {
  /** Errors may arrive inside HTTP 200 bodies when this predicate matches. */
  bodyErrorWhen?: BodyErrorPredicate[];
  /** Fields holding the error code, first present wins. */
  codeFields: string[];
  descriptionFields: string[];
  /** Numeric sub-codes (Microsoft error_codes: [700082]) matched against the lists below as strings. */
  numericCodesField?: string;
  /** Codes meaning the grant is dead: the user must re-authorize. */
  terminal: string[];
  /** Case-insensitive substrings of the description that mean the grant is dead. */
  terminalDescriptions: string[];
  /** Codes meaning the user must interact (MFA, consent): needs re-auth with that reason. */
  interactionRequired: string[];
  /** Codes meaning the operator's client credentials are wrong: never the user's fault. */
  credential: string[];
  /** Codes meaning "try later" even on a 4xx or an error-in-200 body. */
  transient: string[];
  /** Regex whose first capture group, found in the description, is one more code (Microsoft: "AADSTS(\d+)"). */
  descriptionCodePattern?: string;
  /** For a dead grant: description substrings that name why (Salesforce "authentication failure"). */
  descriptionReasons: DescriptionReason[];
}

/** The reasons a dead-grant description can name; otherwise "expired" or "revoked" is inferred from it. */
export type DescribedReason = 'revoked' | 'expired' | 'authentication_failure';

export interface DescriptionReason {
  /** Case-insensitive substring of the error description. */
  contains: string;
  reason: DescribedReason;
}

/** Where a value sits in connection metadata (the non-secret answer fields kept per connection). */
export interface MetadataRef {
  /** Dotted path: "team.id", "instance_url". */
  path: string;
  /** Regex over the value; its first capture group is the result (Salesforce's identity URL). */
  pattern?: string;
  /** Take the host of a URL value (instance_url). */
  host?: boolean;
}

/** The group (org, team, workspace) whose connections can fail together by an admin's action. */
export interface OrgSpec {
  /** Metadata naming the group, first present wins. */
  keys: MetadataRef[];
  /** The group in sentences: "Salesforce org", "Slack workspace". */
  name: string;
  /** The group in report labels (default: name lower-cased): "salesforce org", "slack team". */
  label?: string;
  /** What every connection of one group failing together means: an admin policy, or the app removed. */
  together: 'admin_policy' | 'app_removed';
  /** Why it may have happened, shown by `why`. */
  hint?: string;
  /** The operator's next step; {org} is replaced by the group's key. */
  advice?: string;
}

/** A fixed lifetime some grants have: a grant that dies about this long after it was created died of `cause`. */
export interface GrantLifetime {
  afterSec: number;
  cause: string;
}

export type OldTokenGrace =
  { kind: 'none' } | { kind: 'seconds'; seconds: number } | { kind: 'until_used' } | { kind: 'not_revoked' };

export interface ProviderHooks {
  /** Adjusts a parsed answer body before the generic parser reads it. */
  normalizeAnswer?(body: Record<string, unknown>): Record<string, unknown>;
  /**
   * Extra token sets that come with an initial grant and must be kept fresh separately
   * (Slack's authed_user token). Returned as externalId suffix + token body.
   */
  linkedTokenSets?(tokens: Record<string, unknown>): { suffix: string; tokens: Record<string, unknown> }[];
}

export interface ProviderDefinition {
  key: string;
  displayName: string;
  /** Token URL; {name} or {name|default} is filled from connection metadata. */
  tokenUrl: string;
  clientAuth: ClientAuth;
  clientId: string;
  clientSecret: string;
  paramsIn: ParamsIn;
  extraParams: Record<string, string>;
  headers: Record<string, string>;
  responseFormat: 'json' | 'form' | 'auto';
  expiry: ExpirySpec;
  /** Field holding the refresh token's own lifetime in seconds, if the provider sends one. */
  refreshExpiresInField?: string;
  rotation: Rotation;
  oldTokenGrace: OldTokenGrace;
  errors: ErrorSpec;
  /** Non-secret answer fields kept as connection metadata on every refresh. */
  metadataFields: string[];
  /** Refresh no later than this long before expiry. */
  refreshLeadSec: number;
  /** Refresh-token idle lifetime: refresh at least this often (with margin) to keep the grant alive. */
  idleLifetimeSec?: number;
  /** Refresh tokens kept per user per client: a new grant beyond it silently revokes the oldest. */
  tokenCapPerUser?: number;
  /** Metadata naming the provider-side user, first present wins (default: user_id, sub, email, ...). */
  userKeys: MetadataRef[];
  /** The org or team whose connections fail together by an admin's action (`why`, `report`). */
  org?: OrgSpec;
  /** Fixed grant lifetimes (Google: 7 days for apps in Testing), named by `why` when a grant dies at one. */
  fixedGrantLifetimes: GrantLifetime[];
  /** At most this many token requests in flight to this provider per process. */
  concurrency: number;
  /** At most this many token requests per second to this provider per process (0 = unlimited). */
  ratePerSecond: number;
  /** Free-form notes shown by `ops providers` and the generated table in docs/providers.md. */
  notes?: string;
  hooks?: ProviderHooks;
}

/** The shape accepted from PROVIDERS_FILE / built-ins before defaults are applied. */
export type ProviderInput = Partial<
  Omit<ProviderDefinition, 'key' | 'errors' | 'expiry' | 'oldTokenGrace' | 'userKeys' | 'org'>
> & {
  errors?: Partial<ErrorSpec>;
  /** A string is a plain path. */
  userKeys?: (string | MetadataRef)[];
  org?: Partial<Omit<OrgSpec, 'keys'>> & { keys?: (string | MetadataRef)[] };
  expiry?: Partial<ExpirySpec>;
  oldTokenGrace?: 'none' | 'until_used' | 'not_revoked' | number | OldTokenGrace;
  /** Name of a built-in to start from (for custom providers that behave like one). */
  extends?: string;
};
