// What the routes share: the persona, its facts, the client credentials, the clock, the state,
// the armed faults and the server (for sleeps). Built once by FakeProvider.

import type { FaultSwitch } from './faults.ts';
import type { FakeAuthorization } from './routes/authorize.ts';
import type { AnswerCtx } from './personas/answers.ts';
import type { PersonaSpec } from './personas/specs.ts';
import type { FakeServer } from './server.ts';
import type { TokenStore } from './store.ts';

export type RequestObserver = (info: { grantId?: string; at: number }) => void;

export interface ProviderCore extends AnswerCtx {
  readonly spec: PersonaSpec;
  readonly clientId: string;
  readonly store: TokenStore;
  readonly faults: FaultSwitch;
  readonly server: FakeServer;
  /** The provider's onRequest, read at each request (tests set it after start). */
  observer(): RequestObserver | undefined;
  /** The authorization server that issued the codes the token endpoint exchanges. */
  authorization(): FakeAuthorization;
}
