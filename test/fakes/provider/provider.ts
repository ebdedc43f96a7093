// FakeProvider: one HTTP server on 127.0.0.1 that behaves like ONE provider ("persona"). It wires
// the state (store.ts), the faults (faults.ts), the persona's facts and wording (personas/) and
// the routes (routes/), and keeps the API tests, the demo, chaos and bench use.

import type { ProviderCore, RequestObserver } from './core.ts';
import { FaultSwitch } from './faults.ts';
import { issueGrant } from './issue.ts';
import { personaMeta } from './personas/answers.ts';
import { SPECS, type PersonaSpec } from './personas/specs.ts';
import { adminRoute } from './routes/admin.ts';
import { resourceRoute } from './routes/resource.ts';
import { tokenRoute } from './routes/token.ts';
import { FakeServer, type Route } from './server.ts';
import { TokenStore } from './store.ts';
import type {
  AccessTokenInfo,
  FakeProviderOptions,
  Faults,
  IssuedGrant,
  Ledger,
  Persona,
  ProviderStats,
  Rotation,
} from './types.ts';

export class FakeProvider {
  readonly persona: Persona;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly rotation: Rotation;
  readonly reuseDetection: boolean;
  readonly graceSeconds: number;
  readonly accessTtlSeconds: number;
  readonly admin: boolean;

  /** Called for every request that reaches the token endpoint, before any fault or processing. */
  onRequest?: RequestObserver;

  private readonly spec: PersonaSpec;
  private readonly server: FakeServer;
  private readonly store: TokenStore;
  private readonly faults = new FaultSwitch();
  private readonly core: ProviderCore;

  constructor(opts: FakeProviderOptions = {}) {
    this.persona = opts.persona ?? 'standard';
    const spec = SPECS[this.persona];
    if (!spec) throw new Error(`unknown persona: ${String(opts.persona)}`);
    this.spec = spec;
    this.clientId = opts.clientId ?? 'client-id';
    this.clientSecret = opts.clientSecret ?? 'client-secret';
    this.rotation = opts.rotation ?? spec.rotation;
    this.reuseDetection = opts.reuseDetection ?? true;
    this.graceSeconds = opts.graceSeconds ?? spec.grace;
    this.accessTtlSeconds = opts.accessTtlSeconds ?? spec.ttl;
    this.admin = opts.admin ?? false;
    const now = opts.now ?? Date.now;
    const persona = this.persona;
    this.server = new FakeServer(opts.port ?? 0);
    this.store = new TokenStore({
      now,
      accessTtlSeconds: this.accessTtlSeconds,
      graceSeconds: this.graceSeconds,
      reuseDetection: this.reuseDetection,
      rotates: this.rotates,
      oldToken: spec.oldToken,
      echoWhenNotRotating: spec.echoWhenNotRotating,
      scope: spec.scope,
      meta: (g) => personaMeta(persona, g),
    });
    this.core = {
      persona,
      spec,
      clientId: this.clientId,
      clientSecret: this.clientSecret,
      accessTtlSeconds: this.accessTtlSeconds,
      now,
      store: this.store,
      faults: this.faults,
      server: this.server,
      observer: () => this.onRequest,
    };
  }

  /** The routes in the order they are tried; what none takes gets a JSON 404. */
  private routes(): Route[] {
    return [
      ...(this.admin ? [adminRoute(this.core, () => this.info())] : []),
      resourceRoute(this.core),
      // Further endpoints of the provider (say an authorization server) mount here, before the token endpoint.
      tokenRoute(this.core),
    ];
  }

  // ----- lifecycle ---------------------------------------------------------------------------

  start(): Promise<void> {
    return this.server.start(this.routes());
  }

  close(): Promise<void> {
    return this.server.close();
  }

  get url(): string {
    return this.server.url;
  }

  get tokenUrl(): string {
    return `${this.url}${this.spec.tokenPath}`;
  }

  /** True when the effective rotation setting issues a new refresh token on each refresh. */
  get rotates(): boolean {
    return this.rotation === 'always' || this.rotation === 'optional-on';
  }

  // ----- grants ------------------------------------------------------------------------------

  /** Like an authorization-code exchange: creates a grant and returns what the provider would answer. */
  issueGrant(opts: { userId?: string; extra?: Record<string, unknown> } = {}): IssuedGrant {
    return issueGrant(this.core, opts);
  }

  /** The user disconnected the app: every later refresh gets the persona's terminal answer.
   * `reason` shapes that answer for some personas: Salesforce (error_description, e.g.
   * 'authentication failure'), Microsoft (an AADSTS code such as '50076' or '70008'), Slack
   * (the ok:false error code, e.g. 'token_revoked'), Google ('invalid_rapt' -> error_subtype). */
  revokeGrant(grantId: string, reason?: string): void {
    this.store.revokeGrant(grantId, reason);
  }

  currentRefreshToken(grantId: string): string | undefined {
    return this.store.currentRefreshToken(grantId);
  }

  grantIdOf(refreshToken: string): string | undefined {
    return this.store.grantIdOf(refreshToken);
  }

  /** Whether an access token would be accepted by the provider's API right now. */
  checkAccessToken(accessToken: string): AccessTokenInfo {
    return this.store.checkAccessToken(accessToken);
  }

  // ----- faults / observation ----------------------------------------------------------------

  setFaults(f: Faults): void {
    this.faults.set(f);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Currently armed faults (undefined when none). */
  currentFaults(): Faults | undefined {
    return this.faults.current();
  }

  stats(): ProviderStats {
    return this.store.stats();
  }

  ledger(): Ledger {
    return this.store.ledger();
  }

  private info(): Record<string, unknown> {
    return {
      persona: this.persona,
      url: this.url,
      tokenUrl: this.tokenUrl,
      rotation: this.rotation,
      reuseDetection: this.reuseDetection,
      graceSeconds: this.graceSeconds,
      accessTtlSeconds: this.accessTtlSeconds,
      clientId: this.clientId,
    };
  }
}
