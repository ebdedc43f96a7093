// What the demo's steps pass each other.
import type { ConnView } from './view.ts';

export const PROVIDER_KEY = 'demo';
export const ACCESS_TTL_S = 8; // what the fake provider issues on every refresh
export const MIN_VALID_S = 3; // what the on-demand callers ask for

/** A connection as the demo last saw it through the API, with its grant at the fake provider. */
export interface Conn extends ConnView {
  id: string;
  grantId: string;
  version: number;
  lifetimeS: number;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** The fields of the API's JSON answers that the demo reads (each answer carries some of them). */
export interface ApiBody {
  id?: string;
  status?: string;
  reauthReason?: string | null;
  version?: number;
  nextRefreshAt?: string | null;
  expiresAt?: string | null;
  outcome?: string;
  access_token?: string;
  refreshed?: boolean;
  error?: string;
  connections?: ApiBody[];
}

/** A connection as GET /v1/connections lists it (id, status and version are always there). */
export type ConnectionBody = ApiBody & { id: string; status: string; version: number };

export interface ApiReply {
  status: number;
  body: ApiBody;
}

/** The daemon's HTTP API, with the demo's key. */
export type Api = (method: string, path: string, body?: unknown) => Promise<ApiReply>;
