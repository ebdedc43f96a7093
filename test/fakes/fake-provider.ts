// A realistic fake OAuth 2.0 token endpoint for tests, the demo, the chaos suite and the benchmark.
//
// One FakeProvider = one HTTP server on 127.0.0.1 that behaves like ONE provider ("persona") as
// described in docs/providers.md: where the parameters go, how the client
// authenticates, what a success looks like, how rotation / reuse / grace work and what a dead
// token or bad client answer looks like. Faults (5xx, 429, delays, lost answers, garbage bodies)
// can be injected at any time. Every refresh token issued and every reuse is kept in a ledger.
//
// Only node:http and node:crypto. No side effects on import. The parts, in provider/:
//   provider.ts      the FakeProvider class: options, wiring, the route list, the public API
//   types.ts         the public types (options, faults, stats, ledger)
//   store.ts         grants and tokens: rotation, grace, reuse detection, counters, the ledger
//   faults.ts        armed faults and the replies they give
//   personas/        each persona's facts (specs.ts), success answers (answers.ts), failures (errors.ts)
//   issue.ts         issuing a grant (the authorization-time answer)
//   server.ts        the HTTP server and the ordered route list; http.ts its plumbing
//   routes/          one module per endpoint: token.ts, admin.ts (/_admin/), resource.ts (/api/me)

export { FakeProvider } from './provider/provider.ts';
export {
  PERSONAS,
  type FakeProviderOptions,
  type IssuedGrant,
  type Ledger,
  type Persona,
  type ProviderStats,
  type Rotation,
} from './provider/types.ts';
