// The HTTP adapter: performs a token request with a timeout and reports what it saw. node:http with
// our own keep-alive agents: a fraction of fetch's CPU per request (no undici/web streams). Passed
// into the refresher so tests and the benchmark can swap it (test/helpers/fetch-http-client.ts is a
// fetch-based reference the adapter tests compare it with).
import http from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';
import type { HttpAnswer } from './answer.ts';
import type { TokenRequest } from './request.ts';

export type HttpClient = (req: TokenRequest, timeoutMs: number) => Promise<HttpAnswer>;

const MAX_BODY = 256 * 1024;

// Only these prove the request never left; anything else may have reached the provider.
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);
// Idle keep-alive sockets are dropped before typical provider/LB idle timeouts (Node also honours a
// shorter `Keep-Alive: timeout=` hint from the server).
const FREE_SOCKET_TIMEOUT_MS = 15_000;
const OVERSIZED = '<oversized answer>';

function errorCode(e: unknown): string {
  const err = e as { code?: unknown; errors?: { code?: unknown }[] } | undefined;
  if (typeof err?.code === 'string') return err.code;
  // Happy-eyeballs (several addresses) fails with an AggregateError of per-address errors.
  const first = err?.errors?.[0]?.code;
  return typeof first === 'string' ? first : 'network_error';
}

// Mirrors undici: decode only when every listed coding is known, else hand back the raw bytes.
// Lenient flush like undici (truncated gzip yields what it has); the cap applies to decoded bytes.
function decodeBody(body: Buffer, contentEncoding: string | undefined): Buffer {
  if (!contentEncoding || body.length === 0) return body;
  const codings = contentEncoding
    .toLowerCase()
    .split(',')
    .map((c) => c.trim());
  if (codings.length > 5) throw new Error('too many content-encodings');
  if (!codings.every((c) => c === 'gzip' || c === 'x-gzip' || c === 'deflate' || c === 'br')) return body;
  const z = { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: MAX_BODY };
  let out = body;
  for (let i = codings.length - 1; i >= 0; i--) {
    const c = codings[i];
    if (out.length === 0) break;
    if (c === 'br')
      out = zlib.brotliDecompressSync(out, {
        finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH,
        maxOutputLength: MAX_BODY,
      });
    // Some servers send raw deflate without the zlib wrapper.
    else if (c === 'deflate') out = (out[0] & 0x0f) === 0x08 ? zlib.inflateSync(out, z) : zlib.inflateRawSync(out, z);
    else out = zlib.gunzipSync(out, z);
  }
  return out;
}

export function createNodeHttpClient(opts: { maxSockets?: number; keepAliveMsecs?: number } = {}): {
  client: HttpClient;
  close(): void;
} {
  const agentOpts: http.AgentOptions = {
    keepAlive: true,
    keepAliveMsecs: opts.keepAliveMsecs ?? 1000,
    maxSockets: opts.maxSockets ?? 256,
    timeout: FREE_SOCKET_TIMEOUT_MS,
    scheduling: 'lifo', // lets surplus idle sockets age out after a burst
  };
  const httpAgent = new http.Agent(agentOpts);
  const httpsAgent = new https.Agent(agentOpts);

  const client: HttpClient = (req, timeoutMs) =>
    new Promise<HttpAnswer>((resolve) => {
      let settled = false;
      let connected = false;
      let cr: http.ClientRequest | undefined;
      const finish = (a: HttpAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(a);
      };
      // The message is the code only: URLs and bodies may carry secrets.
      const fail = (e: unknown) => {
        const code = errorCode(e);
        finish({ kind: 'network', code, message: code, sent: connected || !NEVER_SENT.has(code) });
      };
      const timer = setTimeout(() => {
        finish({ kind: 'network', code: 'timeout', message: `no answer within ${timeoutMs} ms`, sent: true });
        cr?.destroy();
      }, timeoutMs);

      try {
        const url = new URL(req.url);
        const isHttps = url.protocol === 'https:';
        if (!isHttps && url.protocol !== 'http:') return fail({ code: 'ERR_INVALID_PROTOCOL' });
        const headers: Record<string, string | number> = { ...req.headers };
        // fetch sends Content-Length for a string body, and 0 for a body-less POST/PUT.
        const hasLength = Object.keys(req.headers).some((k) => k.toLowerCase() === 'content-length');
        if (!hasLength && (req.body !== undefined || req.method === 'POST'))
          headers['content-length'] = req.body === undefined ? 0 : Buffer.byteLength(req.body);
        cr = (isHttps ? https : http).request(url, {
          method: req.method,
          headers,
          agent: isHttps ? httpsAgent : httpAgent,
        });
        const creq = cr;
        creq.on('socket', (s) => {
          if (!s.connecting)
            connected = true; // reused keep-alive socket
          else
            s.once('connect', () => {
              connected = true;
            });
        });
        // No retry, ever: a reset on a reused socket (keep-alive race) may still have consumed a
        // single-use refresh token, so it is reported as sent (ECONNRESET/EPIPE are not in NEVER_SENT).
        creq.on('error', fail);
        creq.on('response', (res) => {
          const status = res.statusCode ?? 0;
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            if (settled) return;
            size += chunk.length;
            if (size > MAX_BODY) {
              finish({ kind: 'response', status, headers: {}, bodyText: OVERSIZED });
              creq.destroy(); // the socket is mid-body, unusable for keep-alive
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            if (settled) return;
            // rawHeaders keeps every repeat (res.headers drops duplicates of e.g. retry-after).
            const out: Record<string, string> = {};
            const raw = res.rawHeaders;
            for (let i = 0; i < raw.length; i += 2) {
              const k = raw[i].toLowerCase();
              const prev = out[k];
              // fetch's Headers.forEach yields set-cookie values separately, so the last one wins there.
              out[k] = prev === undefined || k === 'set-cookie' ? raw[i + 1] : `${prev}, ${raw[i + 1]}`;
            }
            let body: Buffer;
            try {
              body = decodeBody(Buffer.concat(chunks, size), out['content-encoding']);
            } catch (e) {
              if (errorCode(e) === 'ERR_BUFFER_TOO_LARGE')
                return finish({ kind: 'response', status, headers: {}, bodyText: OVERSIZED });
              return fail(e);
            }
            finish({ kind: 'response', status, headers: out, bodyText: body.toString('utf8') });
          });
          // Socket closed mid-body: the provider may have rotated, so this is an uncertain network error.
          res.on('error', fail);
          res.on('close', () => {
            if (!res.complete) fail(res.errored ?? { code: 'ECONNRESET' });
          });
        });
        creq.end(req.body);
      } catch (e) {
        // Synchronous throws (invalid URL or header value) must not escape: never throws.
        fail(e);
        cr?.destroy();
      }
    });

  return {
    client,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
