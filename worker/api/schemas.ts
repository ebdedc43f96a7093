// The /v1 routes' JSON schemas: one source for docs/openapi.json and the contract test. Shared
// shapes are named components (added with addSchema, referenced as "Name#") so generated client
// types get usable names. Every field a view in views.ts returns is listed: the contract test
// validates real answers against these with additionalProperties: false where a view is closed.
// Request schemas are what Fastify validates (Ajv, see server.ts): a failure is answered 400 naming
// the field (validation/format.ts), in the words of the schema's x-message where it has one. What
// JSON Schema cannot say (unstorable text, JSON depth and size, date ranges, known providers) is
// checked after it by validation/validate.ts.
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { ReauthReason } from '../oauth/answer.ts';
import type { SkipReason } from '../refresh/outcome.ts';
import { LIMITS } from '../validation/validate.ts';

const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const;
// PostgreSQL's uuid shape (ajv-formats' uuid also takes a urn:uuid: prefix, which PostgreSQL refuses).
const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const uuid = { type: 'string', format: 'uuid', pattern: UUID_PATTERN } as const;
const idOf = (what: string, message = `must be a ${what} id (uuid)`) => ({
  ...uuid,
  description: `the ${what} id`,
  'x-message': message,
});
// No C0 control character or DEL; the token set's free-text fields may hold tab, CR and LF.
const NO_CONTROL = '^[^\\u0000-\\u001f\\u007f]*$';
const TEXT = '^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$';
const NO_CONTROL_MESSAGE = 'must not contain control characters';
const tokenString = {
  type: 'string',
  minLength: 1,
  maxLength: LIMITS.tokenChars,
  pattern: NO_CONTROL,
  'x-message': {
    type: 'must be a non-empty string',
    minLength: 'must be a non-empty string',
    pattern: NO_CONTROL_MESSAGE,
  },
} as const;
const tokenText = (maxLength: number) => ({
  type: ['string', 'null'],
  maxLength,
  pattern: TEXT,
  'x-message': { type: 'must be a string', pattern: NO_CONTROL_MESSAGE },
});
const metadataIn = {
  type: ['object', 'null'],
  additionalProperties: true,
  description: `the app's own data, at most ${LIMITS.metadataBytes} bytes as JSON`,
  'x-message': 'must be an object',
} as const;
const externalIdIn = {
  type: 'string',
  minLength: 1,
  maxLength: LIMITS.externalIdChars,
  pattern: NO_CONTROL,
  'x-message': {
    type: 'is required (a non-empty string)',
    minLength: 'is required (a non-empty string)',
    pattern: NO_CONTROL_MESSAGE,
  },
} as const;
const int = { type: 'integer' } as const;
const ref = (id: string) => ({ $ref: `${id}#` });

const outcomeProps = {
  outcome: {
    type: 'string',
    enum: ['rotated', 'transient', 'misconfigured', 'needs_reauth', 'lost_race', 'skipped'],
  },
  version: int,
  expiresAt: nullableDateTime,
  nextRefreshAt: nullableDateTime,
  code: str,
  description: nullableStr,
  httpStatus: { type: ['integer', 'null'] },
  retryAt: dateTime,
  reauthReason: str,
  reason: str,
};

// Every value the daemon gives these, checked against its types at compile time.
const REAUTH_REASONS = [
  'revoked',
  'expired',
  'authentication_failure',
  'interaction_required',
  'rotation_lost_in_crash',
  'rotation_lost_in_flight',
  'rotation_lost_commit_failed',
  'rotation_lost_in_pause',
] as const satisfies readonly ReauthReason[];
const SKIP_REASONS = [
  'not_found',
  'not_active',
  'not_due',
  'backoff',
  'busy',
  'breaker_open',
  'provider_outage',
] as const satisfies readonly SkipReason[];
type Missing<T, L extends readonly unknown[]> = Exclude<T, L[number]>;
// A reason added to the daemon's types but not listed here fails to compile.
const listsAreComplete: [
  Missing<ReauthReason, typeof REAUTH_REASONS>,
  Missing<SkipReason, typeof SKIP_REASONS>,
] extends [never, never]
  ? true
  : false = true;
void listsAreComplete;

/** One shape of a refresh outcome: every field it has is present. */
const outcome = (names: string[], props: Record<string, unknown>) => ({
  type: 'object',
  required: ['outcome', ...Object.keys(props)],
  properties: { outcome: { type: 'string', enum: names }, ...props },
  additionalProperties: false,
});

const components = [
  {
    $id: 'Error',
    type: 'object',
    description: 'Every error answer. A 400 names the offending field.',
    required: ['error'],
    properties: { error: str, field: str, message: str, id: { ...uuid, description: '409: the existing connection' } },
    additionalProperties: false,
  },
  {
    $id: 'NeedsReauth',
    type: 'object',
    description: 'The connection cannot be refreshed until the user reconnects.',
    required: ['status'],
    properties: { status: str, reauthReason: nullableStr },
    additionalProperties: false,
  },
  {
    $id: 'Connection',
    type: 'object',
    required: [
      'id',
      'provider',
      'externalId',
      'status',
      'expiresAt',
      'lastRefreshedAt',
      'nextRefreshAt',
      'version',
      'consecutiveFailures',
      'metadata',
      'parentId',
      'createdAt',
      'updatedAt',
    ],
    properties: {
      id: uuid,
      provider: str,
      externalId: str,
      status: { type: 'string', enum: ['active', 'needs_reauth'] },
      expiresAt: nullableDateTime,
      lastRefreshedAt: nullableDateTime,
      nextRefreshAt: nullableDateTime,
      version: int,
      consecutiveFailures: int,
      reauthReason: str,
      reauthAt: nullableDateTime,
      lastError: {
        type: 'object',
        required: ['code', 'description', 'at'],
        properties: { code: str, description: nullableStr, at: nullableDateTime },
        additionalProperties: false,
      },
      metadata: { type: ['object', 'null'], additionalProperties: true },
      parentId: { type: ['string', 'null'], format: 'uuid' },
      createdAt: dateTime,
      updatedAt: dateTime,
    },
    additionalProperties: false,
  },
  {
    $id: 'ConnectionCreated',
    type: 'object',
    required: ['id', 'status', 'expiresAt', 'nextRefreshAt'],
    properties: {
      id: uuid,
      status: str,
      expiresAt: nullableDateTime,
      nextRefreshAt: nullableDateTime,
      linked: {
        type: 'array',
        items: {
          type: 'object',
          required: ['id', 'externalId'],
          properties: { id: uuid, externalId: str },
          additionalProperties: false,
        },
      },
    },
    additionalProperties: false,
  },
  {
    $id: 'ConnectionPage',
    type: 'object',
    required: ['connections', 'next'],
    properties: {
      connections: { type: 'array', items: ref('Connection') },
      next: { type: ['string', 'null'], format: 'uuid', description: 'pass as ?after= for the next page' },
    },
    additionalProperties: false,
  },
  {
    $id: 'Token',
    type: 'object',
    description: 'The access token (sent with cache-control: no-store).',
    required: ['access_token', 'expires_at', 'token_type', 'refreshed'],
    properties: {
      access_token: str,
      expires_at: nullableDateTime,
      token_type: nullableStr,
      refreshed: { type: 'boolean' },
    },
    additionalProperties: false,
  },
  {
    $id: 'TokenSet',
    type: 'object',
    description: "A provider's token answer, as the app received it.",
    'x-message': { type: 'must be an object with access_token and refresh_token' },
    required: ['access_token', 'refresh_token'],
    properties: {
      access_token: tokenString,
      refresh_token: tokenString,
      expires_in: {
        type: ['number', 'string', 'null'],
        description: 'seconds (a number, or a string of digits)',
        exclusiveMinimum: 0,
        maximum: 10 * 365 * 86400,
        pattern: '^\\d+$',
        'x-message': 'must be a positive number of seconds (at most 10 years)',
      },
      expires_at: {
        type: ['string', 'number', 'null'],
        description: 'ISO date or epoch seconds',
        'x-message': 'must be an ISO date or epoch seconds (after 1970, before year 10000)',
      },
      token_type: tokenText(LIMITS.tokenTypeChars),
      scope: tokenText(LIMITS.scopeChars),
    },
    additionalProperties: true,
  },
  {
    $id: 'RefreshOutcome',
    description: 'What a refresh did; the fields depend on outcome (views.ts outcomeView).',
    oneOf: [
      outcome(['rotated'], { version: int, expiresAt: nullableDateTime, nextRefreshAt: dateTime }),
      outcome(['transient', 'misconfigured'], {
        code: str,
        description: str,
        httpStatus: { type: ['integer', 'null'] },
        retryAt: dateTime,
      }),
      outcome(['needs_reauth'], {
        reauthReason: { type: 'string', enum: REAUTH_REASONS },
        code: str,
        description: str,
      }),
      outcome(['lost_race'], { nextRefreshAt: nullableDateTime }),
      outcome(['skipped'], { reason: { type: 'string', enum: SKIP_REASONS }, nextRefreshAt: nullableDateTime }),
    ],
  },
  {
    $id: 'RefreshFailed',
    type: 'object',
    description: '503 from GET .../token: the refresh failed; Retry-After says when to try again.',
    required: ['error', 'outcome'],
    properties: { error: { type: 'string', const: 'refresh_failed' }, ...outcomeProps },
    additionalProperties: false,
  },
  {
    $id: 'BreakerView',
    type: 'object',
    required: ['state', 'openedAt', 'lastProbeAt', 'lastError', 'inFlight', 'waiting'],
    properties: {
      state: str,
      openedAt: nullableDateTime,
      lastProbeAt: nullableDateTime,
      lastError: {
        type: ['object', 'null'],
        properties: { code: str, description: nullableStr },
        additionalProperties: false,
      },
      inFlight: int,
      waiting: int,
    },
    additionalProperties: false,
  },
  {
    $id: 'OutageHoldView',
    type: 'object',
    description:
      'The provider-wide outage hold: closed, holding (refreshes wait for the next probe) or probing (one probe is out).',
    required: ['state', 'since', 'nextProbeAt', 'probes'],
    properties: {
      state: { type: 'string', enum: ['closed', 'holding', 'probing'] },
      since: nullableDateTime,
      nextProbeAt: nullableDateTime,
      probes: int,
    },
    additionalProperties: false,
  },
  {
    $id: 'Provider',
    type: 'object',
    description: 'A provider definition, secret-free, with its credential breaker and outage hold.',
    required: ['key', 'displayName', 'configured', 'tokenUrl'],
    properties: {
      key: str,
      displayName: str,
      configured: { type: 'boolean' },
      tokenUrl: str,
      clientAuth: str,
      paramsIn: str,
      responseFormat: str,
      extraParamNames: { type: 'array', items: str },
      headerNames: { type: 'array', items: str },
      expiry: { type: 'object', additionalProperties: true },
      rotation: str,
      oldTokenGrace: {},
      refreshLeadSec: { type: 'number' },
      idleLifetimeSec: { type: ['number', 'null'] },
      concurrency: { type: 'number' },
      ratePerSecond: { type: ['number', 'null'] },
      metadataFields: {},
      notes: nullableStr,
      breaker: ref('BreakerView'),
      outage: ref('OutageHoldView'),
    },
    additionalProperties: false,
  },
  {
    $id: 'ConnectSessionCreated',
    type: 'object',
    required: ['id', 'url', 'expiresAt', 'mode'],
    properties: {
      id: uuid,
      url: str,
      expiresAt: dateTime,
      mode: { type: 'string', enum: ['connect', 'reconnect'] },
      connectionId: uuid,
    },
    additionalProperties: false,
  },
  {
    $id: 'ConnectSession',
    type: 'object',
    required: ['id', 'provider', 'externalId', 'status', 'createdAt', 'expiresAt'],
    properties: {
      id: uuid,
      provider: str,
      externalId: nullableStr,
      status: str,
      connectionId: uuid,
      outcome: str,
      error: str,
      errorDescription: nullableStr,
      createdAt: dateTime,
      expiresAt: dateTime,
      finishedAt: dateTime,
    },
    additionalProperties: false,
  },
  {
    $id: 'Readiness',
    type: 'object',
    required: ['ok', 'checks'],
    properties: {
      ok: { type: 'boolean' },
      checks: {
        type: 'object',
        additionalProperties: {
          type: 'object',
          required: ['ok'],
          properties: { ok: { type: 'boolean' }, detail: str },
          additionalProperties: false,
        },
      },
    },
    additionalProperties: false,
  },
];

/** Adds the named component schemas; call before any route that references them. */
export function addApiSchemas(app: FastifyInstance): void {
  for (const s of components) app.addSchema(s);
}

const E = ref('Error');
const idParam = (what = 'connection') => ({
  type: 'object',
  required: ['id'],
  properties: { id: idOf(what) },
});
const bearer = (scope: 'read' | 'token') => ({
  security: [{ bearer: [] }],
  description: scope === 'token' ? 'Needs a key of token scope (API_KEY).' : 'Any API key (read scope is enough).',
});
const authErrors = { 401: E, 403: E };

export const routeSchemas = {
  createConnection: {
    ...bearer('token'),
    summary: 'Register a connection with the tokens the app holds',
    tags: ['connections'],
    body: {
      type: 'object',
      required: ['provider', 'externalId', 'tokens'],
      properties: {
        provider: {
          type: 'string',
          minLength: 1,
          description: 'a key of the providers file',
          'x-message': 'is required',
        },
        externalId: externalIdIn,
        tokens: ref('TokenSet'),
        metadata: metadataIn,
      },
    },
    response: { 201: ref('ConnectionCreated'), 400: E, ...authErrors, 409: E, 503: E },
  },
  listConnections: {
    ...bearer('read'),
    summary: 'List connections, a page at a time',
    tags: ['connections'],
    querystring: {
      type: 'object',
      // Query values arrive as strings (a repeated one as an array), so numbers are digit patterns.
      properties: {
        externalId: {
          type: 'string',
          maxLength: LIMITS.externalIdChars,
          pattern: '^[^\\u0000]*$',
          'x-message': `must be at most ${LIMITS.externalIdChars} characters, without NUL`,
        },
        status: { type: 'string', enum: ['active', 'needs_reauth'] },
        provider: str,
        limit: {
          type: 'string',
          pattern: '^(?:[1-9][0-9]{0,2}|1000)$',
          default: '100',
          description: 'page size, 1 to 1000',
          'x-message': 'must be a whole number from 1 to 1000',
        },
        after: idOf('connection', 'must be a connection id'),
      },
    },
    response: { 200: ref('ConnectionPage'), 400: E, ...authErrors, 503: E },
  },
  showConnection: {
    ...bearer('read'),
    summary: "A connection's state and schedule (never a token)",
    tags: ['connections'],
    params: idParam(),
    response: { 200: ref('Connection'), 400: E, ...authErrors, 404: E, 503: E },
  },
  deleteConnection: {
    ...bearer('token'),
    summary: 'Remove a connection (optionally revoking its refresh token at the provider)',
    tags: ['connections'],
    params: idParam(),
    querystring: { type: 'object', properties: { revoke: { type: 'string', enum: ['true', 'false'] } } },
    response: {
      200: {
        description: 'Removed after ?revoke=true; says whether the provider revoked',
        type: 'object',
        required: ['id', 'deleted', 'revoked'],
        properties: { id: uuid, deleted: { type: 'boolean' }, revoked: { type: 'boolean' }, reason: str, detail: str },
        additionalProperties: false,
      },
      204: { description: 'Removed', type: 'null' },
      400: E,
      ...authErrors,
      404: E,
      503: E,
    },
  },
  token: {
    ...bearer('token'),
    summary: 'The access token, refreshed first when it expires within min_valid_seconds',
    tags: ['tokens'],
    params: idParam(),
    querystring: {
      type: 'object',
      properties: {
        min_valid_seconds: {
          type: 'string',
          pattern: '^\\d{1,7}$',
          default: '60',
          description: 'seconds the token must stay valid, 0 to 9999999',
          'x-message': 'must be a whole number of seconds (0 to 9999999)',
        },
      },
    },
    response: {
      200: ref('Token'),
      400: E,
      ...authErrors,
      404: E,
      409: ref('NeedsReauth'),
      503: { anyOf: [ref('RefreshFailed'), E] },
    },
  },
  refresh: {
    ...bearer('token'),
    summary: 'Refresh now (forced)',
    tags: ['tokens'],
    params: idParam(),
    response: { 200: ref('RefreshOutcome'), 400: E, ...authErrors, 404: E, 409: ref('NeedsReauth'), 503: E },
  },
  replaceTokens: {
    ...bearer('token'),
    summary: "Replace a connection's tokens (after a reconnect outside the hosted flow)",
    tags: ['tokens'],
    params: idParam(),
    body: {
      anyOf: [
        ref('TokenSet'),
        {
          type: 'object',
          required: ['tokens'],
          properties: { tokens: ref('TokenSet'), metadata: metadataIn },
        },
      ],
    },
    response: { 200: ref('Connection'), 400: E, ...authErrors, 404: E, 409: E, 503: E },
  },
  listProviders: {
    ...bearer('read'),
    summary: 'Every provider definition with its breaker state',
    tags: ['providers'],
    response: {
      200: {
        type: 'object',
        required: ['providers'],
        properties: { providers: { type: 'array', items: ref('Provider') } },
        additionalProperties: false,
      },
      ...authErrors,
      503: E,
    },
  },
  showProvider: {
    ...bearer('read'),
    summary: 'One provider definition with its breaker state',
    tags: ['providers'],
    params: { type: 'object', required: ['key'], properties: { key: str } },
    response: { 200: ref('Provider'), ...authErrors, 404: E, 503: E },
  },
  createConnectSession: {
    ...bearer('token'),
    summary: 'Start a hosted connect (or reconnect) flow; send the user to url',
    tags: ['connect'],
    body: {
      type: 'object',
      required: ['provider', 'externalId', 'returnUrl'],
      properties: {
        provider: { ...str, 'x-message': 'is required' },
        externalId: { ...str, 'x-message': 'is required (a non-empty string)' },
        connectionId: idOf('connection'),
        returnUrl: str,
        scopes: {
          type: 'array',
          items: str,
          maxItems: 100,
          'x-message': 'must be an array of at most 100 scope strings (no spaces, quotes or backslashes)',
        },
        metadata: metadataIn,
      },
    },
    response: { 201: ref('ConnectSessionCreated'), 400: E, ...authErrors, 404: E, 409: E, 503: E },
  },
  showConnectSession: {
    ...bearer('read'),
    summary: 'Where a connect session stands',
    tags: ['connect'],
    params: idParam('connect session'),
    response: { 200: ref('ConnectSession'), 400: E, ...authErrors, 404: E, 503: E },
  },
  healthz: {
    summary: 'The process answers (no key)',
    tags: ['health'],
    response: {
      200: { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean' } }, additionalProperties: false },
    },
  },
  readyz: {
    summary: 'Its dependencies answer (no key)',
    tags: ['health'],
    response: {
      200: ref('Readiness'),
      503: ref('Readiness'),
    },
  },
} satisfies Record<string, FastifySchema & { summary: string }>;
