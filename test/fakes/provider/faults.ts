// Injected faults: what is armed (optionally for the next N requests only) and the reply a fault
// gives instead of the real answer (5xx, 429, HTML pages, truncated JSON, a bad-client answer).

import { json, htmlPage, type Reply } from './http.ts';
import { rand } from './random.ts';
import type { Faults, Persona } from './types.ts';

export class FaultSwitch {
  private faults: Faults | undefined;
  private remaining: number | undefined;

  set(f: Faults): void {
    this.faults = { ...f };
    this.remaining = f.count;
    if (f.count !== undefined && f.count <= 0) this.clear();
  }

  clear(): void {
    this.faults = undefined;
    this.remaining = undefined;
  }

  /** Currently armed faults (undefined when none). */
  current(): Faults | undefined {
    return this.faults ? { ...this.faults, count: this.remaining } : undefined;
  }

  /** A snapshot of the faults for one request; consumes one from `count`. */
  take(): Faults | undefined {
    const f = this.faults ? { ...this.faults } : undefined;
    if (f && this.remaining !== undefined) {
      this.remaining--;
      if (this.remaining <= 0) this.clear();
    }
    return f;
  }
}

/** What the fault answers instead of the real endpoint, or undefined when it lets the request through. */
export function faultReply(
  f: Faults,
  persona: Persona,
  accessTtlSeconds: number,
  invalidClient: () => Reply,
): Reply | undefined {
  const retry = f.retryAfterSeconds !== undefined ? { 'retry-after': String(f.retryAfterSeconds) } : undefined;
  if (f.status !== undefined) return statusFault(f, f.status, persona, retry);
  if (f.slackError !== undefined) return json(200, { ok: false, error: f.slackError }, retry);
  if (f.html) {
    const status = f.htmlStatus ?? 502;
    return { status, contentType: 'text/html; charset=utf-8', body: htmlPage(status), headers: retry };
  }
  if (f.malformed) {
    const full = JSON.stringify({
      access_token: `at_${rand(12)}`,
      token_type: 'Bearer',
      expires_in: accessTtlSeconds,
      refresh_token: `rt_${rand(30)}`,
    });
    return {
      status: 200,
      contentType: 'application/json; charset=utf-8',
      body: full.slice(0, Math.floor(full.length / 2)),
    };
  }
  if (f.invalidClient) return invalidClient();
  return undefined;
}

function statusFault(f: Faults, status: number, persona: Persona, retry: Record<string, string> | undefined): Reply {
  if (typeof f.body === 'string')
    return { status, contentType: 'application/json; charset=utf-8', body: f.body, headers: retry };
  if (f.body) return json(status, f.body, retry);
  let obj: Record<string, unknown>;
  if (persona === 'slack') obj = { ok: false, error: status === 429 ? 'ratelimited' : 'internal_error' };
  else {
    const error =
      status === 429
        ? 'rate_limit_exceeded'
        : status === 503
          ? 'temporarily_unavailable'
          : status >= 500
            ? 'server_error'
            : 'invalid_request';
    obj = { error, error_description: `Injected fault: HTTP ${status}` };
  }
  return json(status, obj, retry);
}
