// The concerns that plug into the daemon besides the core pipeline. Each lives in its own folder.
import type { Config } from './config/env.ts';
import type { DaemonExtension } from './interfaces.ts';
import { keyCheckExtension } from './crypto/verify.ts';
import { webhookExtension } from './webhooks/dispatcher.ts';
import { providerGateExtension } from './gate/breaker.ts';
import { cronExtension } from './schedule/cron.ts';
import { createMetrics } from './metrics/index.ts';
import { DashboardExtension } from './dashboard/index.ts';

export function defaultExtensions(_config: Config): DaemonExtension[] {
  return [
    // Fails the start when ENCRYPTION_KEYS cannot decrypt what is stored.
    keyCheckExtension(),
    // Outbox -> WEBHOOK_URL (worker/scheduler roles, when WEBHOOK_URL is set).
    ...[webhookExtension(_config)].filter((e): e is DaemonExtension => e !== null),
    // Credential breaker + per-provider concurrency/rate on the token endpoint; GET /v1/providers.
    providerGateExtension({ probeIntervalMs: _config.breakerProbeIntervalMs, outage: _config.outage }),
    // Cron refresh fan-out for providers without expiry in their answers (Salesforce).
    cronExtension(),
    // Prometheus metrics at GET /metrics (API key, read scope is enough).
    createMetrics(),
    // Bull Board at /admin/queues (API key; read-only unless ADMIN_QUEUES_WRITABLE=true).
    new DashboardExtension({ writable: _config.adminQueuesWritable }),
  ];
}
