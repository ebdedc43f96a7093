// The cookie that binds one browser to the state it was sent to the provider with. Every cookie the
// daemon sets says HttpOnly and SameSite=Lax explicitly (Lax: it comes back on the provider's
// top-level redirect, never on a cross-site subrequest).

const BINDING_COOKIE = 'ort_connect';

export function bindingCookie(value: string, opts: { secure: boolean; maxAgeSec: number }): string {
  return [
    `${BINDING_COOKIE}=${value}`,
    'Path=/oauth/callback',
    `Max-Age=${Math.max(0, Math.floor(opts.maxAgeSec))}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}

export function clearedBindingCookie(secure: boolean): string {
  return bindingCookie('', { secure, maxAgeSec: 0 });
}

/** The binding cookie's value from a Cookie header (the last one wins if repeated). */
export function readBindingCookie(header: string | string[] | undefined): string | undefined {
  const raw = Array.isArray(header) ? header.join('; ') : (header ?? '');
  let found: string | undefined;
  for (const part of raw.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === BINDING_COOKIE) found = part.slice(i + 1).trim();
  }
  return found || undefined;
}
