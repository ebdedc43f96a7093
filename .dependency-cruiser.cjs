// Dependency rules for the tree (`npx depcruise worker scripts test`, run by `npm run lint`).
// The habit they keep: imports point down, policy is pure, I/O is thin, tests stay out of the daemon.

// Modules that do I/O when imported or called: drivers, servers, sockets, files, processes, and the
// store (all SQL lives in worker/store/).
const IO_MODULES = [
  '^node_modules/(ioredis|bullmq|pg|pg-[^/]+|fastify|@fastify/[^/]+|@bull-board/[^/]+|@prisma/[^/]+|prisma)/',
  '^(node:)?(http|https|http2|net|tls|dgram|dns|fs|fs/promises|child_process|cluster|worker_threads)$',
  '^worker/store/',
  '^worker/generated/',
];

// Pure policy and contracts: decide from values they are given (clock, answers, rows), never reach
// I/O. Purity is checked edge by edge on runtime imports: a pure module imports no I/O module and no
// local module outside this list (type-only imports are erased and allowed), so no chain of runtime
// imports from a pure module reaches I/O. New policy modules join by file name anywhere under
// worker/: plan, answer, diagnose, outcome, backoff, policy, rules, views, format, types, interfaces.
const PURE_MODULES = [
  '^worker/refresh/plan\\.ts$',
  '^worker/refresh/outcome\\.ts$',
  '^worker/oauth/answer\\.ts$',
  '^worker/oauth/request\\.ts$',
  '^worker/ops/diagnose\\.ts$',
  '^worker/ops/spikes\\.ts$',
  '^worker/ops/args\\.ts$',
  '^worker/validation/validate\\.ts$',
  '^worker/refresh/explain\\.ts$',
  '^worker/util/outage\\.ts$',
  '^worker/webhooks/signing\\.ts$',
  '^worker/crypto/keyring\\.ts$',
  '^worker/providers/(builtin|builtin-authorization|defaults|env|identity|token-url)\\.ts$',
  '^worker/ops/diagnose-(rules|types)\\.ts$',
  '^worker/log/scrub\\.ts$',
  '^worker/config/webhook-secret\\.ts$',
  '^worker/util/ids\\.ts$',
  '^worker/(interfaces|types)\\.ts$',
  '^worker/types/',
  '^worker/connect/pages\\.ts$',
  '^worker/console/(html|chart|layout)\\.ts$',
  '^worker/[^/]+/(plan|answer|diagnose|outcome|backoff|policy|rules|views|format|types|interfaces)\\.ts$',
];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A module cycle: one of the two should depend on a contract below both.',
      from: { path: '^worker/' },
      to: { circular: true },
    },
    {
      name: 'no-folder-cycles',
      severity: 'error',
      comment:
        'Folders of worker/ depend on each other in a cycle: imports point down, so move the shared ' +
        'contract below both (worker/interfaces.ts or worker/types/).',
      scope: 'folder',
      from: { path: '^worker/' },
      to: { path: '^worker/', circular: true },
    },
    {
      name: 'store-not-to-api',
      severity: 'error',
      comment: 'worker/store/ is below the API: it takes its input types from a shared contract, not from worker/api/.',
      from: { path: '^worker/store/' },
      to: { path: '^worker/api/' },
    },
    {
      name: 'pure-not-to-io',
      severity: 'error',
      comment:
        'Pure policy imports an I/O module (driver, server, socket, file, store): pass the value or the port in.',
      from: { path: PURE_MODULES },
      to: { path: IO_MODULES, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'pure-only-to-pure',
      severity: 'error',
      comment:
        'Pure policy value-imports a local module that is not pure (and may reach I/O): move the ' +
        'function it needs into a pure module, or add that module to PURE_MODULES if it is pure.',
      from: { path: PURE_MODULES },
      to: { path: '^worker/', pathNot: PURE_MODULES, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-import-of-composition-root',
      severity: 'error',
      comment:
        'A module under worker/<concern>/ imports the composition root (daemon.ts, main.ts, extensions.ts): ' +
        'take the narrow dependency it uses from a contract instead. The ops CLI, which builds a daemon, may ' +
        '(cli.ts, context.ts, and types.ts, the contract that hands that daemon to the commands).',
      from: { path: '^worker/[^/]+/', pathNot: '^worker/ops/(context|cli|types)\\.ts$' },
      to: { path: '^worker/(daemon|main|extensions)\\.ts$' },
    },
    {
      name: 'ops-not-to-api-runtime',
      severity: 'error',
      comment:
        'The ops CLI value-imports the HTTP API (and with it the Fastify server): share the pure view or ' +
        'check from a pure module (e.g. worker/api/views.ts) instead.',
      from: { path: '^worker/ops/' },
      to: { path: '^worker/api/', pathNot: PURE_MODULES, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'main-not-to-testing',
      severity: 'error',
      comment:
        'The daemon entry point reaches test code: fault hooks and fake clocks are composed by the ' +
        "chaos suite's entry point in test/, not by worker/main.ts.",
      from: { path: '^worker/main\\.ts$' },
      to: { path: ['^worker/testing/', '^test/'], reachable: true },
    },
    {
      name: 'worker-not-to-test',
      severity: 'error',
      comment: 'Shipped code (worker/) imports nothing from test/ or scripts/.',
      from: { path: '^worker/' },
      to: { path: ['^test/', '^scripts/'] },
    },
    {
      name: 'worker-not-to-dev-dependencies',
      severity: 'error',
      comment:
        'Shipped code imports a devDependency: it breaks `npm ci --omit=dev`. Type-only imports are erased and allowed.',
      from: { path: '^worker/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-unlisted-packages',
      severity: 'error',
      comment: 'A package that is not in package.json (it works by accident of hoisting).',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve to a file.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Type-only imports count: a type cycle between folders is a layering cycle too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: ['node_modules'] },
    exclude: { path: ['^worker/generated/'] },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.mjs', '.js', '.cjs', '.json', '.d.ts'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
