// The two HTTP adapters against real local servers: same answers for the same wire behaviour,
// plus the keep-alive properties only the node:http client has. No database needed.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpAnswer } from '../../worker/oauth/answer.ts';
import { createNodeHttpClient, type HttpClient } from '../../worker/oauth/http.ts';
import { fetchHttpClient } from '../helpers/fetch-http-client.ts';
import type { TokenRequest } from '../../worker/oauth/request.ts';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

async function listen(server: Server | NetServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

/** An HTTP server that counts connections and requests. */
async function httpServer(handler: Handler) {
  const sockets = new Set<Socket>();
  const state = { connections: 0, requests: 0, sockets, closedSockets: 0 };
  const server = createServer((req, res) => {
    state.requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, Buffer.concat(chunks).toString('utf8'), res));
  });
  server.on('connection', (s) => {
    state.connections++;
    sockets.add(s);
    s.on('close', () => {
      sockets.delete(s);
      state.closedSockets++;
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const post = (url: string, body?: string, headers: Record<string, string> = {}): TokenRequest => ({
  url,
  method: 'POST',
  headers,
  body,
});

const json = (res: ServerResponse, status: number, value: unknown, extra: Record<string, string | string[]> = {}) => {
  res.writeHead(status, { 'Content-Type': 'application/json', ...extra });
  res.end(JSON.stringify(value));
};

const routes: Record<string, Handler> = {
  '/token': (_q, _b, res) => json(res, 200, { access_token: 'at1', expires_in: 3600 }, { 'X-Request-Id': 'Abc-1' }),
  '/echo': (q, body, res) => json(res, 200, { method: q.method, url: q.url, headers: q.headers, body }),
  '/bad-grant': (_q, _b, res) =>
    json(res, 400, { error: 'invalid_grant', error_description: 'Token has been revoked' }),
  '/bad-gateway': (_q, _b, res) => {
    res.writeHead(502, { 'content-type': 'text/html' });
    res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
  },
  '/redirect': (_q, _b, res) => {
    res.writeHead(302, { location: '/token' });
    res.end('moved');
  },
  '/slow-head': (_q, _b, res) => {
    setTimeout(() => json(res, 200, { late: true }), 1500);
  },
  '/slow-body': (_q, _b, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"access_token":');
    setTimeout(() => res.end('"late"}'), 1500);
  },
  '/huge': (_q, _b, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(Buffer.alloc(300 * 1024, 'a'));
  },
  '/exactly-max': (_q, _b, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(Buffer.alloc(256 * 1024, 'b'));
  },
  '/repeated': (_q, _b, res) => {
    res.setHeader('X-Multi', ['a', 'b']);
    res.setHeader('Retry-After', ['3', '4']);
    res.setHeader('Set-Cookie', ['s=1', 't=2']);
    res.end('{}');
  },
  '/gzip': (_q, _b, res) => {
    // Unsolicited gzip: fetch decodes it, so the node client must too.
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    res.end(gzipSync('{"access_token":"gz"}'));
  },
};

let main: Awaited<ReturnType<typeof httpServer>>;
let raw: NetServer;
let rawUrl: string;
let refusedUrl: string;

beforeAll(async () => {
  main = await httpServer((q, b, res) =>
    (routes[new URL(q.url ?? '/', 'http://x').pathname] ?? ((_q, _b, r) => json(r, 404, {})))(q, b, res),
  );
  // Raw server: announces 100 bytes, sends 3, then drops the connection.
  raw = createNetServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a');
      setTimeout(() => s.destroy(), 20);
    });
  });
  rawUrl = `http://127.0.0.1:${await listen(raw)}/token`;
  // A port that was open a moment ago and is now closed.
  const gone = createNetServer();
  const port = await listen(gone);
  await new Promise<void>((r) => gone.close(() => r()));
  refusedUrl = `http://127.0.0.1:${port}/token`;
});

afterAll(async () => {
  await main.close();
  await new Promise<void>((r) => raw.close(() => r()));
});

const node = createNodeHttpClient();
afterAll(() => node.close());

describe.each([
  { name: 'fetchHttpClient', client: fetchHttpClient, midBodyCode: 'UND_ERR_SOCKET' },
  { name: 'createNodeHttpClient', client: node.client, midBodyCode: 'ECONNRESET' },
])('$name', ({ client, midBodyCode }: { client: HttpClient; midBodyCode: string }) => {
  const call = (path: string, body?: string, headers?: Record<string, string>, timeoutMs = 5000) =>
    client(post(`${main.url}${path}`, body, headers), timeoutMs);

  it.each([
    { path: '/token', status: 200, body: { access_token: 'at1', expires_in: 3600 }, header: ['x-request-id', 'Abc-1'] },
    {
      path: '/bad-grant',
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Token has been revoked' },
      header: ['content-type', 'application/json'],
    },
    { path: '/gzip', status: 200, body: { access_token: 'gz' }, header: ['content-encoding', 'gzip'] },
  ])('JSON answer $path -> $status', async ({ path, status, body, header }) => {
    const a = await call(path, 'x=1');
    expect(a.kind).toBe('response');
    if (a.kind !== 'response') return;
    expect(a.status).toBe(status);
    expect(JSON.parse(a.bodyText)).toEqual(body);
    expect(a.headers[header[0]]).toBe(header[1]);
    expect(Object.keys(a.headers).every((k) => k === k.toLowerCase())).toBe(true);
    expect(Object.values(a.headers).every((v) => typeof v === 'string')).toBe(true);
  });

  it.each([
    {
      kind: 'form',
      body: 'grant_type=refresh_token&refresh_token=rt%2Fx%3D&client_id=my+id',
      type: 'application/x-www-form-urlencoded',
    },
    { kind: 'json (multi-byte)', body: JSON.stringify({ refresh_token: 'rt-é-€' }), type: 'application/json' },
  ])('POST $kind body arrives intact with its headers', async ({ body, type }) => {
    const headers = { accept: 'application/json', 'content-type': type, authorization: 'Basic bXk6c2VjcmV0' };
    const a = await call('/echo?tenant=t1', body, headers);
    expect(a.kind).toBe('response');
    const seen = JSON.parse(a.kind === 'response' ? a.bodyText : '{}') as {
      method: string;
      url: string;
      headers: Record<string, string>;
      body: string;
    };
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/echo?tenant=t1');
    expect(seen.body).toBe(body);
    expect(seen.headers['content-type']).toBe(type);
    expect(seen.headers.authorization).toBe('Basic bXk6c2VjcmV0');
    expect(seen.headers.accept).toBe('application/json');
    expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(seen.headers['transfer-encoding']).toBeUndefined();
  });

  it('body-less POST sends Content-Length: 0', async () => {
    const a = await call('/echo');
    const seen = JSON.parse(a.kind === 'response' ? a.bodyText : '{}') as { headers: Record<string, string> };
    expect(seen.headers['content-length']).toBe('0');
  });

  it('HTML 502 page is a response, not an error', async () => {
    const a = await call('/bad-gateway');
    expect(a).toMatchObject({
      kind: 'response',
      status: 502,
      bodyText: '<html><body><h1>502 Bad Gateway</h1></body></html>',
    });
    expect(a.kind === 'response' && a.headers['content-type']).toBe('text/html');
  });

  it('302 is returned, not followed', async () => {
    const before = main.state.requests;
    const a = await call('/redirect');
    expect(a).toMatchObject({ kind: 'response', status: 302, bodyText: 'moved' });
    expect(a.kind === 'response' && a.headers.location).toBe('/token');
    expect(main.state.requests - before).toBe(1);
  });

  it.each(['/slow-head', '/slow-body'])('answer slower than the timeout (%s) -> timeout, sent', async (path) => {
    const t0 = Date.now();
    const a = await call(path, 'x=1', {}, 300);
    expect(a).toEqual({ kind: 'network', code: 'timeout', message: 'no answer within 300 ms', sent: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(Date.now() - t0).toBeLessThan(1200);
  });

  it('connection refused -> not sent', async () => {
    const a = await client(post(refusedUrl, 'x=1'), 2000);
    expect(a).toEqual({ kind: 'network', code: 'ECONNREFUSED', message: 'ECONNREFUSED', sent: false });
  });

  it('socket destroyed mid-body -> network error, sent', async () => {
    const a = await client(post(rawUrl, 'x=1'), 2000);
    expect(a).toEqual({ kind: 'network', code: midBodyCode, message: midBodyCode, sent: true });
  });

  it.each([
    { path: '/huge', bodyText: '<oversized answer>', headers: {} },
    { path: '/exactly-max', bodyText: 'b'.repeat(256 * 1024), headers: { 'content-type': 'text/plain' } },
  ])('body cap: $path', async ({ path, bodyText, headers }) => {
    const a = await call(path);
    expect(a.kind).toBe('response');
    if (a.kind !== 'response') return;
    expect(a.status).toBe(200);
    expect(a.bodyText === bodyText).toBe(true); // not toEqual: a 256 KiB diff is unreadable
    expect(a.headers).toMatchObject(headers);
    if (bodyText.startsWith('<')) expect(a.headers).toEqual({});
  });

  it('repeated headers are joined with ", " (set-cookie: last one, as fetch does)', async () => {
    const a = await call('/repeated');
    expect(a.kind === 'response' && a.headers).toMatchObject({
      'x-multi': 'a, b',
      'retry-after': '3, 4',
      'set-cookie': 't=2',
    });
  });

  it('an invalid URL is a network error, not a throw; message never carries the URL', async () => {
    const a = await client(post('http//no-scheme?refresh_token=SECRET'), 1000);
    expect(a).toEqual({ kind: 'network', code: 'ERR_INVALID_URL', message: 'ERR_INVALID_URL', sent: true });
  });
});

describe('createNodeHttpClient only', () => {
  it('adds no headers beyond host, connection and content-length', async () => {
    const a = await node.client(
      post(`${main.url}/echo`, 'a=1', { 'content-type': 'application/x-www-form-urlencoded', 'x-custom': 'v' }),
      2000,
    );
    const seen = JSON.parse(a.kind === 'response' ? a.bodyText : '{}') as { headers: Record<string, string> };
    expect(Object.keys(seen.headers).sort()).toEqual([
      'connection',
      'content-length',
      'content-type',
      'host',
      'x-custom',
    ]);
    expect(seen.headers.connection).toBe('keep-alive');
  });

  it('keeps one socket alive for sequential requests', async () => {
    const s = await httpServer((_q, _b, res) => json(res, 200, { ok: true }));
    const c = createNodeHttpClient();
    try {
      for (let i = 0; i < 5; i++)
        expect(await c.client(post(`${s.url}/t`, 'x=1'), 2000)).toMatchObject({ kind: 'response', status: 200 });
      expect(s.state.requests).toBe(5);
      expect(s.state.connections).toBe(1);
    } finally {
      c.close();
      await s.close();
    }
  });

  it('maxSockets bounds concurrent connections', async () => {
    const s = await httpServer((_q, _b, res) => setTimeout(() => json(res, 200, { ok: true }), 30));
    const c = createNodeHttpClient({ maxSockets: 2 });
    try {
      const answers = await Promise.all(Array.from({ length: 8 }, () => c.client(post(`${s.url}/t`, 'x=1'), 3000)));
      expect(answers.map((a) => a.kind === 'response' && a.status)).toEqual(Array(8).fill(200));
      expect(s.state.connections).toBe(2);
    } finally {
      c.close();
      await s.close();
    }
  });

  it('close() destroys idle keep-alive sockets', async () => {
    const s = await httpServer((_q, _b, res) => json(res, 200, { ok: true }));
    const c = createNodeHttpClient();
    try {
      expect(await c.client(post(`${s.url}/t`, 'x=1'), 2000)).toMatchObject({ kind: 'response', status: 200 });
      await new Promise((r) => setTimeout(r, 20));
      expect(s.state.sockets.size).toBe(1); // idle but alive
      c.close();
      const t0 = Date.now();
      while (s.state.sockets.size > 0 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 10));
      expect(s.state.sockets.size).toBe(0);
      expect(s.state.closedSockets).toBe(1);
    } finally {
      await s.close();
    }
  });

  it('reset on a reused socket before any answer byte -> sent, and never retried', async () => {
    // First request on a connection is answered; the next one on the same socket is reset unanswered,
    // as when a provider closes an idle connection just as we reuse it.
    let requests = 0;
    let connections = 0;
    const srv = createNetServer((sock) => {
      connections++;
      let n = 0;
      sock.on('error', () => undefined);
      sock.on('data', () => {
        requests++;
        if (n++ === 0)
          sock.write(
            'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n{}',
          );
        else sock.resetAndDestroy();
      });
    });
    const url = `http://127.0.0.1:${await listen(srv)}/t`;
    const c = createNodeHttpClient();
    try {
      expect(await c.client(post(url, 'x=1'), 2000)).toMatchObject({ kind: 'response', status: 200 });
      const a: HttpAnswer = await c.client(post(url, 'x=2'), 2000);
      expect(a).toEqual({ kind: 'network', code: 'ECONNRESET', message: 'ECONNRESET', sent: true });
      await new Promise((r) => setTimeout(r, 50));
      expect(requests).toBe(2);
      expect(connections).toBe(1);
    } finally {
      c.close();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
