// The fake's HTTP plumbing: replies, body and Basic-credential parsing. Only node:http.

import type { IncomingMessage, ServerResponse } from 'node:http';

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  contentType: string;
  body: string;
}

export function json(status: number, obj: unknown, headers?: Record<string, string>): Reply {
  return { status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(obj), headers };
}

export function formEncoded(status: number, obj: Record<string, unknown>): Reply {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined || v === null) continue;
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects went to JSON.stringify: v is a primitive here
    p.append(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  return { status, contentType: 'application/x-www-form-urlencoded; charset=utf-8', body: p.toString() };
}

export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

export function parseBasic(
  header: string | undefined,
): { id: string; secret: string; rawId: string; rawSecret: string } | undefined {
  const m = /^Basic\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const dec = Buffer.from(m[1], 'base64').toString('utf8');
  const i = dec.indexOf(':');
  const rawId = i < 0 ? dec : dec.slice(0, i);
  const rawSecret = i < 0 ? '' : dec.slice(i + 1);
  return { id: safeDecode(rawId), secret: safeDecode(rawSecret), rawId, rawSecret };
}

export interface ParsedBody {
  type: 'none' | 'form' | 'json' | 'other' | 'invalid-json';
  data: Record<string, string>;
  rawObject?: unknown;
}

export function parseBody(contentType: string | undefined, buf: Buffer): ParsedBody {
  const ct = (contentType ?? '').toLowerCase();
  const text = buf.toString('utf8');
  if (buf.length === 0) return { type: 'none', data: {} };
  if (ct.includes('application/json') || ct.includes('+json')) {
    try {
      const obj: unknown = JSON.parse(text);
      const data: Record<string, string> = {};
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
        for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
          if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') data[k] = String(v);
        }
      }
      return { type: 'json', data, rawObject: obj };
    } catch {
      return { type: 'invalid-json', data: {} };
    }
  }
  if (ct.includes('application/x-www-form-urlencoded')) {
    return { type: 'form', data: Object.fromEntries(new URLSearchParams(text)) };
  }
  return { type: 'other', data: {} };
}

export function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const HTML_502 =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

export function htmlPage(status: number): string {
  if (status === 502) return HTML_502;
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Sign in</title></head><body><h1>Service page (HTTP ${status})</h1><p>We're sorry, something went wrong. Please try again later.</p></body></html>\n`;
}

export function send(res: ServerResponse, r: Reply): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(r.status, {
    'content-type': r.contentType,
    'cache-control': 'no-store',
    pragma: 'no-cache',
    ...(r.headers ?? {}),
  });
  res.end(r.body);
}
