// A minimal, very fast OAuth token endpoint for the benchmark: answers every refresh_token grant at
// once with a rotated token set (no validation, no state). Runs as its own process so that its CPU
// is not counted against the daemon's event loop. Prints "listening <port>" on stdout when ready.
import { createServer } from 'node:http';

let n = 0;
const prefix = `${process.pid.toString(36)}-`;
// Answer latency (set by the bench over IPC, 0 = at once) and requests in flight at once: the
// largest number, and the time-weighted mean since the last reset (what one SIGKILL would catch).
let latencyMs = 0;
let inFlight = 0;
let maxInFlight = 0;
let area = 0;
let lastT = performance.now();
let since = lastT;
const tick = () => {
  const t = performance.now();
  area += inFlight * (t - lastT);
  lastT = t;
};
const server = createServer((req, res) => {
  // Drain the body (the refresher sends a small form), then answer.
  req.on('data', () => {});
  req.on('end', () => {
    n++;
    tick();
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const body = `{"access_token":"at-${prefix}${n}","refresh_token":"rt-${prefix}${n}","expires_in":3600,"token_type":"Bearer"}`;
    const answer = () => {
      tick();
      inFlight--;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (latencyMs > 0) setTimeout(answer, latencyMs);
    else answer();
  });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('message', (m) => {
  if (m === 'count') process.send?.({ count: n });
  if (m && typeof m === 'object' && 'latencyMs' in m) latencyMs = Number(m.latencyMs);
  if (m === 'inflight') {
    tick();
    process.send?.({
      inflight: { max: maxInFlight, mean: area / Math.max(1, lastT - since), windowMs: lastT - since, now: inFlight },
    });
    maxInFlight = inFlight;
    area = 0;
    since = lastT;
  }
});
