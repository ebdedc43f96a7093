// The token-change listener: a dedicated PostgreSQL connection LISTENing on the channel that the
// Connection table's trigger notifies (migration token_change_notify) at the commit of every change
// to what a token read answers. Reconnects after a loss; reports live/down so the token cache is
// bypassed while changes may go unheard.
import pg from 'pg';

const TOKEN_CHANNEL = 'ort_token_changed';

export interface TokenListenerOptions {
  databaseUrl: string;
  onChange: (connectionId: string) => void;
  /** true once LISTEN is in place; false as soon as the connection is lost or stops answering. */
  onLive: (live: boolean) => void;
  onError?: (err: unknown) => void;
  retryMs?: number;
  /** A query this often proves the connection still delivers (a half-open TCP would not). */
  heartbeatMs?: number;
}

export class TokenChangeListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly o: TokenListenerOptions) {}

  /** Resolves after the first attempt, live or not (a failed one keeps retrying). */
  start(): Promise<void> {
    return this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.heartbeat);
    const c = this.client;
    this.client = undefined;
    if (c) {
      this.o.onLive(false);
      await c.end().catch(() => undefined);
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const hb = this.o.heartbeatMs ?? 5000;
    const c = new pg.Client({
      connectionString: this.o.databaseUrl,
      application_name: 'oauth-refresher token listener',
      keepAlive: true,
      query_timeout: hb,
      connectionTimeoutMillis: hb,
    });
    c.on('error', (err) => this.lost(c, err));
    c.on('end', () => this.lost(c));
    c.on('notification', (n) => {
      if (n.channel === TOKEN_CHANNEL && n.payload) this.o.onChange(n.payload);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${TOKEN_CHANNEL}`);
    } catch (err) {
      this.o.onError?.(err);
      void c.end().catch(() => undefined);
      this.scheduleRetry();
      return;
    }
    if (this.stopped) return void c.end().catch(() => undefined);
    this.client = c;
    this.o.onLive(true);
    this.heartbeat = setInterval(() => void c.query('SELECT 1').catch((err) => this.lost(c, err)), hb);
    this.heartbeat.unref();
  }

  private lost(c: pg.Client, err?: unknown): void {
    if (this.client !== c) return;
    this.client = undefined;
    clearInterval(this.heartbeat);
    this.o.onLive(false);
    if (err) this.o.onError?.(err);
    void c.end().catch(() => undefined);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    this.retry = setTimeout(() => void this.connect(), this.o.retryMs ?? 1000);
    this.retry.unref();
  }
}
