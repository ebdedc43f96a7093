// The return-URL allowlist: the daemon redirects to nothing else, so it is never an open redirector.
// Scheme, host and port are compared literally (localhost is not 127.0.0.1); the path by prefix, at
// a segment boundary (/app does not admit /app-evil).

export type ReturnCheck = { ok: true; url: URL } | { ok: false; message: string };

function parse(raw: string): URL | null {
  try {
    return new URL(raw);
  } catch {
    return null;
  }
}

function pathAllowed(path: string, prefix: string): boolean {
  if (prefix === '' || prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  return prefix.endsWith('/') || path.length === prefix.length || path[prefix.length] === '/';
}

export function checkReturnUrl(raw: unknown, allowlist: readonly string[]): ReturnCheck {
  if (typeof raw !== 'string' || raw === '')
    return { ok: false, message: 'is required (an absolute http or https URL listed in CONNECT_RETURN_URLS)' };
  if (raw.length > 2048 || /[\s\0\\]/.test(raw))
    return { ok: false, message: 'must be a URL of at most 2048 characters without spaces or backslashes' };
  const u = parse(raw);
  if (!u) return { ok: false, message: 'is not an absolute URL' };
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, message: 'must use http or https' };
  if (u.username || u.password) return { ok: false, message: 'must not carry user info' };
  if (allowlist.length === 0) return { ok: false, message: 'no return URL is allowed: set CONNECT_RETURN_URLS' };
  for (const entry of allowlist) {
    const a = parse(entry);
    if (!a) continue;
    if (
      a.protocol === u.protocol &&
      a.hostname === u.hostname &&
      a.port === u.port &&
      pathAllowed(u.pathname, a.pathname)
    )
      return { ok: true, url: u };
  }
  return { ok: false, message: 'is not under an allowed prefix (CONNECT_RETURN_URLS)' };
}

/** The return URL with the flow's result parameters added (existing query kept, ours win). */
export function returnWith(raw: string, params: Record<string, string | undefined>): string {
  const u = new URL(raw);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}
