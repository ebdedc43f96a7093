// Each persona's facts (docs/providers.md): where its token endpoint is, how the
// client authenticates, where the parameters go, and how rotation, old tokens and grace behave.

import type { Persona, Rotation } from '../types.ts';

export type ParamSource = 'query' | 'form' | 'json';
export type OldTokenPolicy = 'dies' | 'valid' | 'until-next-used';

export interface PersonaSpec {
  tokenPath: string;
  matchPath: (p: string) => boolean;
  clientAuth: 'basic' | 'body' | 'either';
  params: ParamSource[];
  paramsHint: string;
  rotation: Rotation;
  oldToken: OldTokenPolicy;
  grace: number;
  ttl: number;
  /** When not rotating, send the same refresh token back (HubSpot does). */
  echoWhenNotRotating: boolean;
  scope: string;
}

const exact = (path: string) => (p: string) => p === path;

export const SPECS: Record<Persona, PersonaSpec> = {
  standard: {
    tokenPath: '/oauth2/token',
    matchPath: exact('/oauth2/token'),
    clientAuth: 'either',
    params: ['form'],
    paramsHint: 'an application/x-www-form-urlencoded body',
    rotation: 'always',
    oldToken: 'dies',
    grace: 0,
    ttl: 3600,
    echoWhenNotRotating: false,
    scope: 'read write',
  },
  gong: {
    tokenPath: '/oauth2/generate-customer-token',
    matchPath: exact('/oauth2/generate-customer-token'),
    clientAuth: 'basic',
    params: ['query'],
    paramsHint: 'query string parameters (grant_type, refresh_token)',
    rotation: 'always',
    oldToken: 'dies',
    grace: 0,
    ttl: 3600,
    echoWhenNotRotating: false,
    scope: 'api:calls:read:basic api:users:read',
  },
  salesforce: {
    tokenPath: '/services/oauth2/token',
    matchPath: exact('/services/oauth2/token'),
    clientAuth: 'either',
    params: ['form'],
    paramsHint: 'an application/x-www-form-urlencoded body',
    rotation: 'optional-off',
    oldToken: 'dies',
    grace: 0,
    ttl: 7200,
    echoWhenNotRotating: false,
    scope: 'refresh_token api',
  },
  slack: {
    tokenPath: '/api/oauth.v2.access',
    matchPath: exact('/api/oauth.v2.access'),
    clientAuth: 'either',
    params: ['query', 'form'],
    paramsHint: 'form arguments',
    rotation: 'always',
    oldToken: 'dies',
    grace: 0,
    ttl: 43200,
    echoWhenNotRotating: false,
    scope: 'chat:write,channels:read',
  },
  google: {
    tokenPath: '/token',
    matchPath: exact('/token'),
    clientAuth: 'either',
    params: ['form', 'json'],
    paramsHint: 'an application/x-www-form-urlencoded body',
    rotation: 'never',
    oldToken: 'dies',
    grace: 0,
    ttl: 3599,
    echoWhenNotRotating: false,
    scope: 'https://www.googleapis.com/auth/drive.readonly openid',
  },
  microsoft: {
    tokenPath: '/common/oauth2/v2.0/token',
    matchPath: (p) => /^\/[^/]+\/oauth2\/v2\.0\/token$/.test(p),
    clientAuth: 'either',
    params: ['form'],
    paramsHint: 'an application/x-www-form-urlencoded body',
    rotation: 'always',
    oldToken: 'valid',
    grace: 0,
    ttl: 3600,
    echoWhenNotRotating: false,
    scope: 'offline_access User.Read Mail.Read',
  },
  hubspot: {
    tokenPath: '/oauth/v1/token',
    matchPath: exact('/oauth/v1/token'),
    clientAuth: 'body',
    params: ['form'],
    paramsHint: 'an application/x-www-form-urlencoded body',
    rotation: 'never',
    oldToken: 'dies',
    grace: 0,
    ttl: 1800,
    echoWhenNotRotating: true,
    scope: 'crm.objects.contacts.read oauth',
  },
  github: {
    tokenPath: '/login/oauth/access_token',
    matchPath: exact('/login/oauth/access_token'),
    clientAuth: 'either',
    params: ['query', 'form', 'json'],
    paramsHint: 'form or JSON parameters',
    rotation: 'always',
    oldToken: 'dies',
    grace: 0,
    ttl: 28800,
    echoWhenNotRotating: false,
    scope: '',
  },
  atlassian: {
    tokenPath: '/oauth/token',
    matchPath: exact('/oauth/token'),
    clientAuth: 'body',
    params: ['json'],
    paramsHint: 'an application/json body',
    rotation: 'always',
    oldToken: 'dies',
    grace: 600,
    ttl: 3600,
    echoWhenNotRotating: false,
    scope: 'read:jira-work offline_access',
  },
  xero: {
    tokenPath: '/connect/token',
    matchPath: exact('/connect/token'),
    clientAuth: 'basic',
    params: ['form'],
    paramsHint: 'an application/x-www-form-urlencoded body',
    rotation: 'always',
    oldToken: 'dies',
    grace: 1800,
    ttl: 1800,
    echoWhenNotRotating: false,
    scope: 'openid profile email accounting.transactions offline_access',
  },
  zoom: {
    tokenPath: '/oauth/token',
    matchPath: exact('/oauth/token'),
    clientAuth: 'basic',
    params: ['query', 'form'],
    paramsHint: 'query or form parameters',
    rotation: 'always',
    oldToken: 'dies',
    grace: 0,
    ttl: 3600,
    echoWhenNotRotating: false,
    scope: 'user:read meeting:read',
  },
  notion: {
    tokenPath: '/v1/oauth/token',
    matchPath: exact('/v1/oauth/token'),
    clientAuth: 'basic',
    params: ['json'],
    paramsHint: 'an application/json body',
    rotation: 'always',
    oldToken: 'dies',
    grace: 0,
    ttl: 3600,
    echoWhenNotRotating: false,
    scope: '',
  },
  shopify: {
    tokenPath: '/admin/oauth/access_token',
    matchPath: exact('/admin/oauth/access_token'),
    clientAuth: 'body',
    params: ['json', 'form'],
    paramsHint: 'an application/json body',
    rotation: 'always',
    oldToken: 'until-next-used',
    grace: 0,
    ttl: 3600,
    echoWhenNotRotating: false,
    scope: 'read_products,read_orders',
  },
};
