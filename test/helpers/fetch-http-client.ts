// A fetch-based HttpClient, only for tests: the reference the node:http adapter
// (worker/oauth/http.ts) is compared with in test/unit/http-client.test.ts.
import type { HttpClient } from '../../worker/oauth/http.ts';

const MAX_BODY = 256 * 1024;

export const fetchHttpClient: HttpClient = async (req, timeoutMs) => {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  let sent = false;
  try {
    const res = await fetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal: ac.signal,
      redirect: 'manual',
    });
    sent = true;
    const reader = res.body?.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (reader) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > MAX_BODY) {
          await reader.cancel();
          return { kind: 'response', status: res.status, headers: {}, bodyText: '<oversized answer>' };
        }
        chunks.push(value);
      }
    }
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      headers[k] = v;
    });
    return { kind: 'response', status: res.status, headers, bodyText: Buffer.concat(chunks).toString('utf8') };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    if (ac.signal.aborted)
      return { kind: 'network', code: 'timeout', message: `no answer within ${timeoutMs} ms`, sent: true };
    const code = err.cause?.code ?? 'network_error';
    // Connection refused / DNS failure: the request never reached the provider.
    const neverSent = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'].includes(code);
    return { kind: 'network', code, message: `${code}`, sent: sent || !neverSent };
  } finally {
    clearTimeout(timer);
  }
};

// --- node:http client -------------------------------------------------------------------------
// Same observable answers as fetchHttpClient, at a fraction of the CPU (no undici/web streams).
