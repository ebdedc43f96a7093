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

export interface ApiReply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** The daemon's HTTP API, with the demo's key. */
export type Api = (method: string, path: string, body?: unknown) => Promise<ApiReply>;
