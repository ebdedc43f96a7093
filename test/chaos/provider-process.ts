// The chaos suite's fake provider process: one FakeProvider (admin API on) plus a tiny side server
// that reports how many token requests each grant made (including faulted and rejected ones), so
// the suite can prove retries are bounded and backed off.
//   npx tsx test/chaos/provider-process.ts '{"rotation":"always","graceSeconds":0,"accessTtlSeconds":5}'
// Prints one JSON line: {"ready":true,"url":...,"tokenUrl":...,"countsUrl":...}
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeProvider, type FakeProviderOptions } from '../fakes/fake-provider.ts';

const opts = JSON.parse(process.argv[2] ?? '{}') as FakeProviderOptions;
const provider = new FakeProvider({ persona: 'standard', ...opts, admin: true, port: 0 });
const counts = new Map<string, number>();
provider.onRequest = ({ grantId }) => {
  const k = grantId ?? '?';
  counts.set(k, (counts.get(k) ?? 0) + 1);
};
const side = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(Object.fromEntries(counts)));
});

await provider.start();
await new Promise<void>((r) => side.listen(0, '127.0.0.1', () => r()));
const countsUrl = `http://127.0.0.1:${(side.address() as AddressInfo).port}/counts`;
process.stdout.write(`${JSON.stringify({ ready: true, url: provider.url, tokenUrl: provider.tokenUrl, countsUrl })}\n`);
const stop = () => {
  setTimeout(() => process.exit(0), 1000).unref();
  side.close();
  void provider.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
