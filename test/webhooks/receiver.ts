// A webhook receiver on 127.0.0.1 for tests: verifies every delivery as a real receiver would,
// with the `standardwebhooks` library (the Standard Webhooks reference verifier), can fail the
// next N deliveries, go down (connection refused) and come back on the same port, or hold
// requests unanswered (to kill the sender mid-dispatch).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** True when the library accepts the delivery (signature, id, fresh timestamp) under secret. */
export function standardVerify(secret: string, body: string, headers: Record<string, string | undefined>): boolean {
  try {
    new Webhook(secret).verify(
      body,
      Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>,
    );
    return true;
  } catch {
    return false;
  }
}

export interface Received {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
  body: string;
  verified: boolean;
  status: number;
  at: number;
}

export class WebhookReceiver {
  readonly requests: Received[] = [];
  private server?: Server;
  private port = 0;
  private failNext = 0;
  private failStatus = 500;
  holding = false;
  private readonly held = new Set<ServerResponse>();

  /** secret: the whsec_ secret this receiver knows (during a rotation, either one). */
  constructor(private readonly secret: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Connection refused until up(). */
  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    for (const r of this.held) r.destroy();
    this.held.clear();
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  async up(): Promise<void> {
    await this.start();
  }

  failFirst(n: number, status = 500): void {
    this.failNext = n;
    this.failStatus = status;
  }

  /** Releases held requests by destroying their sockets (the sender sees a network error). */
  dropHeld(): void {
    for (const r of this.held) r.destroy();
    this.held.clear();
  }

  get heldCount(): number {
    return this.held.size;
  }

  /** Event ids answered with 2xx (each once). */
  deliveredIds(): Set<string> {
    return new Set(this.requests.filter((r) => r.status >= 200 && r.status < 300 && r.id).map((r) => r.id!));
  }

  /** First 2xx delivery of each event id, in arrival order. */
  firstDeliveries(): Received[] {
    const seen = new Set<string>();
    return this.requests.filter((r) => r.status < 300 && r.id && !seen.has(r.id) && seen.add(r.id));
  }

  async close(): Promise<void> {
    await this.down();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const h = (n: string) => (typeof req.headers[n] === 'string' ? req.headers[n] : undefined);
    const rec: Received = {
      id: h('webhook-id'),
      timestamp: h('webhook-timestamp'),
      signature: h('webhook-signature'),
      body,
      verified: standardVerify(this.secret, body, {
        'webhook-id': h('webhook-id'),
        'webhook-timestamp': h('webhook-timestamp'),
        'webhook-signature': h('webhook-signature'),
      }),
      status: 0,
      at: Date.now(),
    };
    this.requests.push(rec);
    if (this.holding) {
      rec.status = -1;
      this.held.add(res);
      return;
    }
    if (this.failNext > 0) {
      this.failNext--;
      rec.status = this.failStatus;
    } else {
      rec.status = rec.verified ? 200 : 401;
    }
    res.writeHead(rec.status, { 'content-type': 'text/plain' }).end(rec.status === 200 ? 'ok' : 'nope');
  }
}
