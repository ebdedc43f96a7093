// The `why` rules, table-driven over hand-built histories (the command test runs them on real data).
import { describe, expect, it } from 'vitest';
import {
  contextOf,
  diagnose,
  RULES,
  type DiagAttempt,
  type DiagConnection,
  type DiagnoseInput,
  type DiagProvider,
  type Peer,
} from '../../worker/ops/diagnose.ts';
import { orgKeyOf, userKeyOf } from '../../worker/providers/identity.ts';
import { ProviderRegistry, resolveProvider } from '../../worker/providers/registry.ts';
import { writeProvidersFile } from '../helpers/harness.ts';

const T0 = Date.parse('2026-11-01T00:00:00Z');
const H = 3_600_000;
const D = 24 * H;
const at = (ms: number) => new Date(T0 + ms);
const NOW = T0 + 10 * D;

const sfId = (org: string, user: string) => `https://login.salesforce.com/id/${org}/${user}`;
const ORG = '00DAAAAAAAAAAAAAAA';
const USER = '005BBBBBBBBBBBBBBB';

function conn(o: Partial<DiagConnection> = {}): DiagConnection {
  return {
    id: '11111111-1111-4111-8111-111111111111',
    provider: 'acme',
    externalId: 'ext-1',
    status: 'active',
    version: 3,
    createdAt: at(0),
    lastRefreshedAt: at(9 * D),
    nextRefreshAt: at(10 * D + H),
    expiresAt: at(10 * D + 2 * H),
    refreshExpiresAt: null,
    consecutiveFailures: 0,
    failingSince: null,
    lastErrorCode: null,
    lastErrorDescription: null,
    lastErrorAt: null,
    reauthReason: null,
    reauthAt: null,
    metadata: {},
    ...o,
  };
}

function attempt(o: Partial<DiagAttempt> = {}): DiagAttempt {
  return {
    startedAt: at(9 * D),
    finishedAt: at(9 * D + 200),
    trigger: 'scheduled',
    outcome: 'rotated',
    httpStatus: 200,
    errorCode: null,
    errorDescription: null,
    uncertain: false,
    providerRotated: true,
    versionBefore: 2,
    versionAfter: 3,
    workerId: 'host-a:101',
    ...o,
  };
}

const dead = (o: Partial<DiagAttempt> = {}) =>
  attempt({
    startedAt: at(9.5 * D),
    finishedAt: at(9.5 * D + 100),
    outcome: 'needs_reauth',
    httpStatus: 400,
    errorCode: 'invalid_grant',
    errorDescription: 'Token has been expired or revoked.',
    providerRotated: false,
    versionBefore: 3,
    versionAfter: null,
    ...o,
  });
const rotatedTo = (v: number, ms: number) =>
  attempt({ startedAt: at(ms), finishedAt: at(ms + 100), versionBefore: v - 1, versionAfter: v });

function reauth(reason: string, o: Partial<DiagConnection> = {}): DiagConnection {
  return conn({
    status: 'needs_reauth',
    reauthReason: reason,
    reauthAt: at(9.5 * D + 100),
    nextRefreshAt: null,
    lastErrorCode: 'invalid_grant',
    lastErrorDescription: 'Token has been expired or revoked.',
    lastErrorAt: at(9.5 * D + 100),
    consecutiveFailures: 1,
    ...o,
  });
}

const peer = (o: Partial<Peer>): Peer => ({
  id: 'p',
  externalId: 'peer',
  status: 'active',
  createdAt: at(D),
  reauthAt: null,
  ...o,
});

function input(o: Partial<DiagnoseInput>): DiagnoseInput {
  return {
    now: NOW,
    connection: conn(),
    attempts: [],
    provider: { key: 'acme', displayName: 'Acme', configured: true },
    breaker: null,
    sameUser: [],
    sameOrg: [],
    ...o,
  };
}

// The facts `why` uses come from the provider definitions, as the command passes them.
const REGISTRY = ProviderRegistry.load({ env: {}, allowInsecure: false });
const builtin = (key: string): DiagProvider => ({ ...REGISTRY.get(key)!, configured: true });
const SF = builtin('salesforce');
// A custom provider from PROVIDERS_FILE: same facts, same diagnoses as a built-in.
const CUSTOM = ProviderRegistry.load({
  env: {},
  allowInsecure: false,
  providersFile: writeProvidersFile({
    crm: {
      displayName: 'Acme CRM',
      tokenUrl: 'https://crm.test/token',
      clientId: 'a',
      clientSecret: 'b',
      tokenCapPerUser: 3,
      idleLifetimeSec: 30 * 86400,
      userKeys: ['account.user'],
      org: {
        keys: ['account.tenant'],
        name: 'CRM tenant',
        together: 'admin_policy',
        hint: 'Tenant admins can expire all grants.',
        advice: 'Ask the admin of tenant {org} to lift the grant policy.',
      },
      fixedGrantLifetimes: [{ afterSec: 86400, cause: 'trial tenants get one-day grants.' }],
    },
    chat: {
      displayName: 'Chat',
      tokenUrl: 'https://chat.test/token',
      clientId: 'a',
      clientSecret: 'b',
      org: { keys: ['space'], name: 'Chat space', together: 'app_removed' },
    },
  }),
});
const custom = (key: string): DiagProvider => ({ ...CUSTOM.get(key)!, configured: true });
const crmMd = (tenant: string, user: string) => ({ account: { tenant, user } });

describe('diagnose', () => {
  const cases: {
    name: string;
    in: Partial<DiagnoseInput>;
    code: string;
    says: RegExp;
    next: RegExp;
    handled?: boolean;
  }[] = [
    {
      name: 'healthy connection',
      in: { attempts: [rotatedTo(3, 9 * D)] },
      code: 'healthy',
      says: /nothing is wrong/,
      next: /Nothing to do/,
    },
    {
      name: 'lost race, handled',
      in: {
        attempts: [
          attempt({ outcome: 'lost_race', versionAfter: null, versionBefore: 2, trigger: 'forced' }),
          rotatedTo(2, 8 * D),
        ],
      },
      code: 'lost_race_handled',
      says: /lost a race and it was handled/,
      next: /Nothing to do/,
      handled: true,
    },
    {
      name: 'transient failures: not disconnected, replay when back',
      in: {
        connection: conn({
          consecutiveFailures: 4,
          failingSince: at(9 * D),
          lastErrorCode: 'http_503',
          lastErrorDescription: 'provider answered 503',
          lastErrorAt: at(10 * D - 60_000),
          expiresAt: at(9.9 * D),
        }),
        attempts: [
          attempt({
            outcome: 'transient',
            errorCode: 'http_503',
            httpStatus: 503,
            versionAfter: null,
            providerRotated: false,
          }),
        ],
      },
      code: 'failing',
      says: /Not disconnected: refreshing has failed 4 times/,
      next: /ops failed replay --provider acme/,
    },
    {
      name: 'credentials wrong for the whole provider',
      in: {
        connection: conn({
          lastErrorCode: 'invalid_client',
          lastErrorDescription: 'Client authentication failed.',
          lastErrorAt: at(10 * D - 1000),
        }),
        attempts: [
          attempt({
            outcome: 'misconfigured',
            errorCode: 'invalid_client',
            httpStatus: 401,
            versionAfter: null,
            providerRotated: false,
          }),
        ],
        providerMisconfigured: 7,
        breaker: { state: 'open', lastErrorCode: 'invalid_client', openedAt: at(10 * D - 5000) },
      },
      code: 'credentials',
      says: /client credentials for Acme are wrong for the whole provider/,
      next: /ACME_CLIENT_ID .*ops failed replay --provider acme/,
    },
    {
      name: 'healthy connection of a provider whose credential breaker is open',
      in: {
        attempts: [rotatedTo(3, 9 * D)],
        breaker: { state: 'open', lastErrorCode: 'invalid_client', openedAt: at(10 * D - 60_000) },
      },
      code: 'credentials',
      says: /refreshing is paused: the Acme credential breaker is open.*has not failed itself/s,
      next: /ACME_CLIENT_ID/,
    },
    {
      name: 'client credentials missing from the environment',
      in: {
        connection: conn({
          lastErrorCode: 'client_credentials_missing',
          lastErrorDescription: 'set ACME_CLIENT_ID and _CLIENT_SECRET',
          lastErrorAt: at(10 * D - 1000),
        }),
        attempts: [
          attempt({
            outcome: 'misconfigured',
            errorCode: 'client_credentials_missing',
            httpStatus: null,
            versionAfter: null,
            providerRotated: false,
          }),
        ],
      },
      code: 'misconfigured',
      says: /not configured for Acme/,
      next: /set ACME_CLIENT_ID/,
    },
    {
      name: 'revoked by the user or an admin',
      in: { connection: reauth('revoked'), attempts: [dead(), rotatedTo(3, 9 * D)] },
      code: 'revoked',
      says: /Revoked by the user or an admin/,
      next: /reconnect/,
    },
    {
      name: 'refresh token expired',
      in: {
        connection: reauth('expired', { lastRefreshedAt: at(9 * D) }),
        attempts: [dead({ errorDescription: 'expired access/refresh token' }), rotatedTo(3, 9 * D)],
      },
      code: 'expired',
      says: /refresh token expired/,
      next: /reconnect/,
    },
    {
      name: 'idle too long (provider idle limit)',
      in: {
        connection: reauth('expired', {
          provider: 'microsoft',
          lastRefreshedAt: at(0),
          createdAt: at(-100 * D),
          reauthAt: at(95 * D),
        }),
        attempts: [dead({ startedAt: at(95 * D), finishedAt: at(95 * D) }), rotatedTo(3, 0)],
        provider: builtin('microsoft'),
        now: T0 + 96 * D,
      },
      code: 'idle_expired',
      says: /idle too long/,
      next: /idleLifetimeSec/,
    },
    {
      name: 'rotation lost in a crash',
      in: {
        connection: reauth('rotation_lost_in_crash'),
        attempts: [
          dead(),
          attempt({
            startedAt: at(9.2 * D),
            finishedAt: null,
            outcome: null,
            versionBefore: 3,
            versionAfter: null,
            providerRotated: false,
            workerId: 'host-b:202',
          }),
          rotatedTo(3, 9 * D),
        ],
      },
      code: 'rotation_lost_in_crash',
      says: /lost in a crash/,
      next: /host-b:202/,
    },
    {
      name: 'rotation lost in flight',
      in: {
        connection: reauth('rotation_lost_in_flight'),
        attempts: [
          dead(),
          attempt({
            startedAt: at(9.2 * D),
            outcome: 'transient',
            errorCode: 'timeout',
            uncertain: true,
            versionBefore: 3,
            versionAfter: null,
            providerRotated: false,
          }),
          rotatedTo(3, 9 * D),
        ],
      },
      code: 'rotation_lost_in_flight',
      says: /lost in flight/,
      next: /REQUEST_TIMEOUT_MS/,
    },
    {
      name: 'rotation lost at commit',
      in: { connection: reauth('rotation_lost_commit_failed'), attempts: [dead()] },
      code: 'rotation_lost_commit_failed',
      says: /could not store/,
      next: /COMMIT_RETRY_MS/,
    },
    {
      name: 'authentication failure (password change, deactivation)',
      in: {
        connection: reauth('authentication_failure', { provider: 'salesforce' }),
        attempts: [dead({ errorDescription: 'authentication failure' })],
        provider: SF,
      },
      code: 'authentication_failure',
      says: /password changed or the user was deactivated/,
      next: /reconnect/,
    },
    {
      name: 'interaction required',
      in: { connection: reauth('interaction_required'), attempts: [dead({ errorCode: 'interaction_required' })] },
      code: 'interaction_required',
      says: /sign in interactively/,
      next: /MFA or consent/,
    },
    {
      name: 'Salesforce token cap: newer grants for the same user',
      in: {
        connection: reauth('expired', { provider: 'salesforce', metadata: { id: sfId(ORG, USER) } }),
        attempts: [dead({ errorDescription: 'expired access/refresh token' }), rotatedTo(3, 9 * D)],
        provider: SF,
        sameUser: [1, 2, 3, 4, 5].map((i) => peer({ id: `u${i}`, externalId: `other-${i}`, createdAt: at(i * D) })),
      },
      code: 'token_cap',
      says: /at most 5 refresh tokens per user.*5 other connections for the same Salesforce user were authorized after this one/s,
      next: /PUT \/v1\/connections/,
    },
    {
      name: 'Google token cap: tokens replaced by a reconnect',
      in: {
        connection: reauth('revoked', { provider: 'google', version: 7 }),
        attempts: [dead({ versionBefore: 7 }), rotatedTo(3, 9 * D)],
        provider: builtin('google'),
      },
      code: 'token_cap',
      says: /at most 100 refresh tokens.*did not come from a refresh/s,
      next: /reconnect/i,
    },
    {
      name: 'same user but the other grant is older: plain revocation',
      in: {
        connection: reauth('revoked', {
          provider: 'salesforce',
          metadata: { id: sfId(ORG, USER) },
          createdAt: at(5 * D),
        }),
        attempts: [dead(), rotatedTo(3, 9 * D)],
        provider: SF,
        sameUser: [peer({ createdAt: at(D) })],
      },
      code: 'revoked',
      says: /Revoked/,
      next: /reconnect/,
    },
    {
      name: 'whole Salesforce org failed together: admin policy',
      in: {
        connection: reauth('expired', { provider: 'salesforce', metadata: { id: sfId(ORG, USER) } }),
        attempts: [dead({ errorDescription: 'expired access/refresh token' }), rotatedTo(3, 9 * D)],
        provider: SF,
        sameOrg: [
          peer({ status: 'needs_reauth', reauthAt: at(9.5 * D + 60_000) }),
          peer({ id: 'q', status: 'needs_reauth', reauthAt: at(9.5 * D - 120_000) }),
        ],
      },
      code: 'org_policy',
      says: /Every connection of Salesforce org 00DAAAAAAAAAAAAAAA failed together.*Immediately expire refresh token/s,
      next: /Refresh Token Policy/,
    },
    {
      name: 'org mates still active: not an org policy',
      in: {
        connection: reauth('expired', { provider: 'salesforce', metadata: { id: sfId(ORG, USER) } }),
        attempts: [dead({ errorDescription: 'expired access/refresh token' }), rotatedTo(3, 9 * D)],
        provider: SF,
        sameOrg: [peer({ status: 'needs_reauth', reauthAt: at(9.5 * D) }), peer({ id: 'q', status: 'active' })],
      },
      code: 'expired',
      says: /refresh token expired/,
      next: /reconnect/,
    },
    {
      name: 'org mates failed days apart: not together',
      in: {
        connection: reauth('revoked', { provider: 'salesforce', metadata: { id: sfId(ORG, USER) } }),
        attempts: [dead(), rotatedTo(3, 9 * D)],
        provider: SF,
        sameOrg: [peer({ status: 'needs_reauth', reauthAt: at(2 * D) })],
      },
      code: 'revoked',
      says: /Revoked/,
      next: /reconnect/,
    },
    {
      name: 'whole Slack team at once',
      in: {
        connection: reauth('revoked', { provider: 'slack', metadata: { team: { id: 'T0001' } } }),
        attempts: [dead({ errorCode: 'token_revoked' })],
        provider: builtin('slack'),
        sameOrg: [peer({ status: 'needs_reauth', reauthAt: at(9.5 * D) })],
      },
      code: 'team_revoked',
      says: /Slack workspace T0001/,
      next: /uninstalled/,
    },
    {
      name: 'stored tokens cannot be decrypted',
      in: {
        connection: conn({
          lastErrorCode: 'decrypt_failed',
          lastErrorDescription: 'no key k2',
          lastErrorAt: at(10 * D - 1000),
        }),
        attempts: [
          attempt({
            outcome: 'misconfigured',
            errorCode: 'decrypt_failed',
            httpStatus: null,
            versionAfter: null,
            providerRotated: false,
          }),
        ],
      },
      code: 'misconfigured',
      says: /cannot be decrypted/,
      next: /ENCRYPTION_KEYS/,
    },
    {
      name: 'an unknown re-authorization reason',
      in: { connection: reauth('admin_forced'), attempts: [dead()] },
      code: 'unknown',
      says: /Needs re-authorization \(admin_forced\)/,
      next: /reconnect/,
    },
    {
      // Bug: /box/ matched "dropbox", so Box's 60-day idle limit was applied to Dropbox.
      name: 'Dropbox has no idle limit: a token unused for 62 days is plainly expired',
      in: {
        connection: reauth('expired', {
          provider: 'dropbox',
          lastRefreshedAt: at(0),
          createdAt: at(-10 * D),
          reauthAt: at(62 * D),
        }),
        attempts: [dead({ startedAt: at(62 * D), finishedAt: at(62 * D) }), rotatedTo(3, 0)],
        provider: builtin('dropbox'),
        now: T0 + 63 * D,
      },
      code: 'expired',
      says: /^The refresh token expired\n/,
      next: /reconnect/,
    },
    {
      name: 'Box expires refresh tokens unused for 60 days',
      in: {
        connection: reauth('expired', {
          provider: 'box',
          lastRefreshedAt: at(0),
          createdAt: at(-10 * D),
          reauthAt: at(62 * D),
        }),
        attempts: [dead({ startedAt: at(62 * D), finishedAt: at(62 * D) }), rotatedTo(3, 0)],
        provider: builtin('box'),
        now: T0 + 63 * D,
      },
      code: 'idle_expired',
      says: /unused for 60 d\b/,
      next: /idleLifetimeSec for box/,
    },
    {
      name: "Google idle limit is the catalog's 180 days",
      in: {
        connection: reauth('expired', {
          provider: 'google',
          lastRefreshedAt: at(0),
          createdAt: at(-10 * D),
          reauthAt: at(170 * D),
        }),
        attempts: [dead({ startedAt: at(170 * D), finishedAt: at(170 * D) }), rotatedTo(3, 0)],
        provider: builtin('google'),
        now: T0 + 171 * D,
      },
      code: 'idle_expired',
      says: /unused for 180 d\b/,
      next: /idleLifetimeSec/,
    },
    {
      name: 'Google grant dead 7 days after creation: app in Testing status',
      in: {
        connection: reauth('expired', {
          provider: 'google',
          version: 1,
          createdAt: at(2 * D),
          lastRefreshedAt: at(9 * D),
          reauthAt: at(9 * D + 2 * H),
        }),
        attempts: [dead({ versionBefore: 1, startedAt: at(9 * D + 2 * H), finishedAt: at(9 * D + 2 * H) })],
        provider: builtin('google'),
      },
      code: 'expired',
      says: /died about 7 days after it was created: Google expires refresh tokens after 7 days for apps in "Testing"/,
      next: /reconnect/,
    },
    {
      name: 'custom provider: its token cap',
      in: {
        connection: reauth('revoked', { provider: 'crm', metadata: crmMd('t1', 'u1') }),
        attempts: [dead(), rotatedTo(3, 9 * D)],
        provider: custom('crm'),
        sameUser: [peer({ id: 'u2', externalId: 'other', createdAt: at(5 * D) })],
      },
      code: 'token_cap',
      says: /Acme CRM keeps at most 3 refresh tokens per user/,
      next: /PUT \/v1\/connections/,
    },
    {
      name: 'custom provider: its whole tenant failed together (admin policy)',
      in: {
        connection: reauth('revoked', { provider: 'crm', metadata: crmMd('t1', 'u1') }),
        attempts: [dead(), rotatedTo(3, 9 * D)],
        provider: custom('crm'),
        sameOrg: [peer({ status: 'needs_reauth', reauthAt: at(9.5 * D) })],
      },
      code: 'org_policy',
      says: /Every connection of CRM tenant t1 failed together.*Tenant admins can expire all grants/s,
      next: /^Ask the admin of tenant t1 to lift/,
    },
    {
      name: 'custom provider: its idle limit',
      in: {
        connection: reauth('expired', {
          provider: 'crm',
          lastRefreshedAt: at(0),
          createdAt: at(-10 * D),
          reauthAt: at(28 * D),
        }),
        attempts: [dead({ startedAt: at(28 * D), finishedAt: at(28 * D) }), rotatedTo(3, 0)],
        provider: custom('crm'),
        now: T0 + 29 * D,
      },
      code: 'idle_expired',
      says: /Acme CRM expires refresh tokens unused for 30 d\b/,
      next: /idleLifetimeSec for crm/,
    },
    {
      name: 'custom provider: its fixed grant lifetime',
      in: {
        connection: reauth('expired', {
          provider: 'crm',
          version: 1,
          createdAt: at(0),
          lastRefreshedAt: at(20 * H),
          reauthAt: at(D),
        }),
        attempts: [dead({ versionBefore: 1, startedAt: at(D), finishedAt: at(D) })],
        provider: custom('crm'),
      },
      code: 'expired',
      says: /died about 1 day after it was created: trial tenants get one-day grants/,
      next: /reconnect/,
    },
    {
      name: 'custom provider: whole space failed together (app removed)',
      in: {
        connection: reauth('revoked', { provider: 'chat', metadata: { space: 'S9' } }),
        attempts: [dead()],
        provider: custom('chat'),
        sameOrg: [peer({ status: 'needs_reauth', reauthAt: at(9.5 * D) })],
      },
      code: 'team_revoked',
      says: /Every connection of Chat space S9 failed together/,
      next: /Chat space S9 whether the app was uninstalled/,
    },
  ];

  it.each(cases)('$name', (c) => {
    const d = diagnose(input(c.in));
    const text = [d.headline, ...d.details].join('\n');
    expect(d.code).toBe(c.code);
    expect(text).toMatch(c.says);
    expect(d.nextStep).toMatch(c.next);
    expect(Boolean(d.handled)).toBe(Boolean(c.handled));
  });

  it('every rule is reached by a case above', () => {
    const reached = new Set(cases.map((c) => RULES.find((r) => r.when(contextOf(input(c.in))))!.name));
    expect(RULES.map((r) => r.name).filter((n) => !reached.has(n))).toEqual([]);
  });
});

describe('metadata keys', () => {
  it.each([
    ['salesforce', { id: sfId(ORG, USER) }, `${ORG}/${USER}`, ORG],
    ['salesforce-sandbox', { id: sfId(ORG, USER), instance_url: 'https://x.my.salesforce.com' }, `${ORG}/${USER}`, ORG],
    ['salesforce', { instance_url: 'https://acme.my.salesforce.com/' }, undefined, 'acme.my.salesforce.com'],
    ['slack', { team: { id: 'T123', name: 'x' } }, undefined, 'T123'],
    ['google', { sub: '1234567890' }, '1234567890', undefined],
    ['acme', {}, undefined, undefined],
    ['crm', crmMd('t1', 'u1'), 'u1', 't1'],
    ['chat', { space: 'S9', sub: 'x' }, 'x', 'S9'],
  ])('%s %j', (provider, md, user, org) => {
    const def = REGISTRY.get(provider) ?? CUSTOM.get(provider);
    expect(userKeyOf(def, md)).toBe(user);
    expect(orgKeyOf(def, md)).toBe(org);
  });

  it('knows the per-user token caps', () => {
    expect(REGISTRY.get('salesforce')!.tokenCapPerUser).toBe(5);
    expect(REGISTRY.get('google')!.tokenCapPerUser).toBe(100);
    expect(
      resolveProvider('acme', { tokenUrl: 'https://acme.test/token' }, {}, { allowInsecure: false }).tokenCapPerUser,
    ).toBeUndefined();
  });
});
