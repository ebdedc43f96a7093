// The token-reads phase of `npm run bench`: GET /v1/connections/:id/token on fresh tokens through
// a real daemon (ROLES=api) at a fixed concurrency, beside PostgreSQL's prepared point-select rate
// on the Connection table in the same run (the floor a read cannot go under).
import http from 'node:http';
import { createServer } from 'node:net';
import pg from 'pg';
import { pct, sleep } from './lib.ts';

export interface ReadFigures {
  rate: number;
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

/** Runs `one` in `concurrency` loops for `durationS` (after a 1 s warm-up) and times each call. */
async function drive(
  concurrency: number,
  durationS: number,
  one: (i: number, loop: number) => Promise<boolean>,
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
  measuring = true;
  const t0 = performance.now();
  await sleep(durationS * 1000);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(loops);
  lat.sort((a, b) => a - b);
  return { rate: lat.length / elapsed, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), count: lat.length, errors };
}

/** GET /v1/connections/:id/token over a keep-alive agent, the connections taken in turn. */
export async function tokenReads(o: {
  baseUrl: string;
  apiKey: string;
  ids: string[];
  concurrency: number;
  durationS: number;
}): Promise<ReadFigures> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const u = new URL(o.baseUrl);
  const headers = { authorization: `Bearer ${o.apiKey}` };
  const get = (i: number) =>
    new Promise<boolean>((resolve) => {
      const req = http.request(
        {
          agent,
          host: u.hostname,
          port: u.port,
          path: `/v1/connections/${o.ids[i % o.ids.length]}/token`,
          headers,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 200));
          res.on('error', () => resolve(false));
        },
      );
      req.on('error', () => resolve(false));
      req.end();
    });
  try {
    return await drive(o.concurrency, o.durationS, get);
  } finally {
    agent.destroy();
  }
}

/** A named prepared point select by primary key, one client per concurrent loop. */
export async function pgPointSelects(o: {
  dbUrl: string;
  ids: string[];
  concurrency: number;
  durationS: number;
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
    return await drive(o.concurrency, o.durationS, async (i, loop) => {
      const c = clients[loop];
      const r = await c.query({
        name: 'bench-point-select',
        text: 'SELECT * FROM "Connection" WHERE "id" = $1',
        values: [o.ids[i % o.ids.length]],
      });
      return r.rowCount === 1;
    });
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}
