// The fake's HTTP server on 127.0.0.1: lifecycle, a list of routes tried in order, a JSON 404 for
// what no route takes, and sleeps that end at once when the server closes.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { json, readBody, send } from './http.ts';

/** Serves the request and resolves true, or resolves false at once (without reading the body) to pass it on. */
export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export class FakeServer {
  private server?: Server;
  private port?: number;
  private readonly sleepers = new Map<NodeJS.Timeout, () => void>();
  private isClosed = false;

  constructor(private readonly requestedPort: number) {}

  /** True once close() began; a route that slept checks it before answering. */
  get closed(): boolean {
    return this.isClosed;
  }

  get url(): string {
    if (this.port === undefined) throw new Error('FakeProvider not started');
    return `http://127.0.0.1:${this.port}`;
  }

  async start(routes: readonly Route[]): Promise<void> {
    if (this.server) return;
    this.isClosed = false;
    const server = createServer((req, res) => {
      this.handle(routes, req, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          send(res, json(500, { error: 'server_error', error_description: `fake provider bug: ${String(err)}` }));
        } else {
          res.destroy();
        }
      });
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.requestedPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.isClosed = true;
    for (const [t, wake] of this.sleepers) {
      clearTimeout(t);
      wake();
    }
    this.sleepers.clear();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Resolves after ms, or at once when the server closes (callers then check `closed`). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.sleepers.delete(t);
        resolve();
      }, ms);
      this.sleepers.set(t, resolve);
    });
  }

  private async handle(routes: readonly Route[], req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    for (const route of routes) if (await route(req, res, url)) return;
    await readBody(req).catch(() => Buffer.alloc(0));
    send(res, json(404, { error: 'not_found', path: url.pathname }));
  }
}
