// The token-reads phase of `npm run bench`: GET /v1/connections/:id/token on fresh tokens through
// a real daemon (ROLES=api) at a fixed concurrency, beside PostgreSQL's prepared point-select rate
// on the Connection table in the same run (the floor a read cannot go under).
import { connect, createServer, type Socket } from 'node:net';
import pg from 'pg';
import { OAuthRefresher } from '../../client/src/index.ts';
import { CpuMeter } from './cpu.ts';
import { pct, sleep } from './lib.ts';

export interface ReadFigures {
  rate: number;
  /** CPU µs per read over the measured period, per process group (daemon, load generator, postgres). */
  cpuUsPerRead?: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  count: number;
  errors: number;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function waitForHttp(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Called at the start and end of the measured period (not the warm-up): CPU accounting. */
export interface Meter {
  start(): void;
  stop(reads: number): Record<string, number>;
}

/**
 * CPU µs per read of the given process trees (from /proc), of this process (the load generator)
 * and of this database's PostgreSQL backends: a cost that does not depend on the machine's load.
 */
export function cpuPerRead(groups: Record<string, number[]>): Meter {
  let m: CpuMeter | undefined;
  let own0 = process.cpuUsage();
  return {
    start() {
      own0 = process.cpuUsage();
      m = new CpuMeter(groups);
    },
    stop(reads) {
      const own = process.cpuUsage(own0);
      const pctOfCore = m!.stop();
      const per = (p: number) => ((p / 100) * m!.seconds * 1e6) / Math.max(1, reads);
      const out: Record<string, number> = {};
      for (const name of [...Object.keys(groups), 'postgres']) out[name] = per(pctOfCore[name]);
      out.loadGenerator = (own.user + own.system) / Math.max(1, reads);
      return out;
    },
  };
}

/** Runs `one` in `concurrency` loops for `durationS` (after a 1 s warm-up) and times each call. */
async function drive(
  concurrency: number,
  durationS: number,
  one: (i: number, loop: number) => Promise<boolean>,
  meter?: Meter,
): Promise<ReadFigures> {
  const lat: number[] = [];
  let errors = 0;
  let measuring = false;
  let stop = false;
  let n = 0;
  const loop = async (_x: unknown, loop: number) => {
    while (!stop) {
      const t0 = performance.now();
      const ok = await one(n++, loop);
      if (!measuring) continue;
      if (ok) lat.push(performance.now() - t0);
      else errors++;
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await sleep(1000);
  meter?.start();
  measuring = true;
  const t0 = performance.now();
  await sleep(durationS * 1000);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpuUsPerRead = meter?.stop(lat.length + errors);
  stop = true;
  await Promise.all(loops);
  lat.sort((a, b) => a - b);
  return {
    rate: lat.length / elapsed,
    p50Ms: pct(lat, 50),
    p99Ms: pct(lat, 99),
    count: lat.length,
    errors,
    ...(cpuUsPerRead ? { cpuUsPerRead } : {}),
  };
}

/**
 * One keep-alive HTTP/1.1 connection with one request in flight at a time, no pipelining. Lighter
 * than node's http client (which cost more CPU per read than the daemon did): the request bytes
 * are fixed per path, and the answer is parsed only for its status and content-length.
 */
class LeanConnection {
  private buf: Buffer = Buffer.alloc(0);
  private pending: ((status: number) => void) | null = null;
  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => this.fail());
    socket.on('error', () => this.fail());
  }

  static open(host: string, port: number): Promise<LeanConnection> {
    return new Promise((resolve, reject) => {
      const s = connect(port, host, () => resolve(new LeanConnection(s)));
      s.once('error', reject);
    });
  }

  /** The status code of the answer, or 0 when the connection failed. */
  get(request: Buffer): Promise<number> {
    return new Promise((resolve) => {
      this.pending = resolve;
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buf.toString('latin1', 0, end);
    const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buf.length < end + 4 + len) return;
    const status = Number(head.slice(9, 12));
    this.buf = this.buf.subarray(end + 4 + len);
    const p = this.pending;
    this.pending = null;
    p?.(status);
  }

  private fail(): void {
    const p = this.pending;
    this.pending = null;
    p?.(0);
  }
}

/** GET /v1/connections/:id/token, one keep-alive connection per concurrent loop, the connections taken in turn. */
export async function tokenReads(o: {
  baseUrl: string;
  apiKey: string;
  ids: string[];
  concurrency: number;
  durationS: number;
  meter?: Meter;
}): Promise<ReadFigures> {
  const u = new URL(o.baseUrl);
  const requests = o.ids.map((id) =>
    Buffer.from(
      `GET /v1/connections/${id}/token HTTP/1.1\r\nhost: ${u.host}\r\nauthorization: Bearer ${o.apiKey}\r\n\r\n`,
      'latin1',
    ),
  );
  const conns = await Promise.all(
    Array.from({ length: o.concurrency }, () => LeanConnection.open(u.hostname, Number(u.port))),
  );
  try {
    return await drive(
      o.concurrency,
      o.durationS,
      async (i, loop) => (await conns[loop].get(requests[i % requests.length])) === 200,
      o.meter,
    );
  } finally {
    for (const c of conns) c.close();
  }
}

/**
 * The same reads through the app's client (oauth-refresher-client): its cache answers repeat reads
 * in the app's process, so the daemon sees one request per connection until a token nears expiry.
 */
export async function clientReads(o: {
  baseUrl: string;
  apiKey: string;
  ids: string[];
  concurrency: number;
  durationS: number;
}): Promise<ReadFigures & { firstReads: number; daemonRequests: number }> {
  let daemonRequests = 0;
  const client = new OAuthRefresher({
    baseUrl: o.baseUrl,
    apiKey: o.apiKey,
    fetch: (input, init) => {
      daemonRequests++;
      return fetch(input, init);
    },
  });
  // The first read of each connection goes to the daemon; then the measured run.
  for (let i = 0; i < o.ids.length; i += o.concurrency)
    await Promise.all(o.ids.slice(i, i + o.concurrency).map((id) => client.getToken(id, { minValidSeconds: 60 })));
  const firstReads = daemonRequests;
  const r = await drive(o.concurrency, o.durationS, async (i) => {
    // A cache hit resolves at once: give timers (the end of the run) a turn now and then.
    if (i % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
    const t = await client.getToken(o.ids[i % o.ids.length], { minValidSeconds: 60 });
    return t.accessToken.length > 0;
  });
  return { ...r, firstReads, daemonRequests: daemonRequests - firstReads };
}

/** A named prepared point select by primary key, one client per concurrent loop. */
export async function pgPointSelects(o: {
  dbUrl: string;
  ids: string[];
  concurrency: number;
  durationS: number;
  meter?: Meter;
}): Promise<ReadFigures> {
  const clients = await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      const c = new pg.Client({ connectionString: o.dbUrl });
      await c.connect();
      return c;
    }),
  );
  try {
    // One client per loop: each has at most one query in flight, as a pool would.
    return await drive(
      o.concurrency,
      o.durationS,
      async (i, loop) => {
        const c = clients[loop];
        const r = await c.query({
          name: 'bench-point-select',
          text: 'SELECT * FROM "Connection" WHERE "id" = $1',
          values: [o.ids[i % o.ids.length]],
        });
        return r.rowCount === 1;
      },
      o.meter,
    );
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}
