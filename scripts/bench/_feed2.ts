import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createDb } from '../../worker/store/db.ts';
import { Queues } from '../../worker/schedule/queues.ts';
import { deleteKeys } from './lib.ts';
const url = `postgresql://postgres@127.0.0.1:5432/ort_bench_scratch`;
const db = createDb(url, { poolSize: 4 });
const conn = new Redis({ maxRetriesPerRequest: null });
const prefix = `{ort-feed-${randomBytes(3).toString('hex')}}`;
const q = new Queues(conn, prefix);
const rows = await db.connection.findMany({ take: 20000, select: { id: true, provider: true, nextRefreshAt: true }, orderBy: [{ nextRefreshAt: 'asc' }, { id: 'asc' }] });
const T = { pg: 0, exists: 0, add: 0 };
let t = performance.now();
for (let i = 0; i < 20; i++) await db.connection.findMany({ where: { status: 'active' }, take: 1000, select: { id: true, provider: true, nextRefreshAt: true }, orderBy: [{ nextRefreshAt: 'asc' }, { id: 'asc' }] });
T.pg = performance.now() - t;
for (let i = 0; i < rows.length; i += 1000) {
  const page = rows.slice(i, i + 1000);
  t = performance.now();
  const pipe = conn.pipeline(); for (const r of page) pipe.exists(q.jobKey(r.provider, r.id)); await pipe.exec();
  T.exists += performance.now() - t;
  t = performance.now();
  await q.refreshQueue('bench').addBulk(page.map((r) => ({ name: 'refresh', data: { connectionId: r.id, trigger: 'feeder' as const, plannedAt: r.nextRefreshAt!.getTime() }, opts: { jobId: r.id, delay: 60000, removeOnComplete: true, removeOnFail: true } })));
  T.add += performance.now() - t;
}
console.log('ms per 1000:', { pg: T.pg / 20, exists: T.exists / 20, add: T.add / 20 });
await deleteKeys(conn, prefix);
await q.close(); await conn.quit(); await db.$disconnect();
