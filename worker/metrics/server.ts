// A process's own metrics listener (node:http, no Fastify): what a worker- or scheduler-only
// process serves, since it has no API. GET /metrics needs an API key (read scope is enough), as on
// the API; GET /healthz answers without one (a liveness probe for processes without the API).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiKeys } from '../api/auth.ts';

export interface MetricsServerOptions {
  host: string;
  port: number;
  keys: ApiKeys;
  /** The exposition text (collects the gauges first). */
  render: () => Promise<{ contentType: string; body: string }>;
}

export interface MetricsServer {
  address: string;
  close(): Promise<void>;
}

function handler(o: MetricsServerOptions) {
  return (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(body);
    };
    if (req.method !== 'GET') return send(405, '{"error":"method_not_allowed"}');
    if (path === '/healthz') return send(200, '{"ok":true}');
    if (path !== '/metrics') return send(404, '{"error":"not_found"}');
    if (!o.keys.check(req.headers.authorization))
      return send(401, '{"error":"unauthorized"}', { 'www-authenticate': 'Bearer' });
    o.render().then(
      (m) => send(200, m.body, { 'content-type': m.contentType }),
      () => send(500, '{"error":"metrics_unavailable"}'),
    );
  };
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer(handler(o));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
