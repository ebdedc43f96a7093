// Secret scrubbing for free text and provider answers: pure, so policy modules can use it without
// importing the logger (pino).

/** Removes anything that looks like a token or credential from free text (provider descriptions, error messages). */
export function scrubSecrets(text: string): string {
  return text
    .replace(
      /(access_token|refresh_token|id_token|client_secret|code|assertion|password)=([^&\s"']+)/gi,
      '$1=[redacted]',
    )
    .replace(
      /("?(?:access_token|refresh_token|id_token|client_secret|password)"?\s*[:=]\s*)"[^"]*"/gi,
      '$1"[redacted]"',
    )
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, '$1 [redacted]')
    .replace(/\b(xox[abpre]-|xoxe\.xox[bp]-)[A-Za-z0-9-]+/g, '[redacted]')
    .replace(/\b[A-Za-z0-9_-]{40,}\b/g, '[redacted]');
}

/** Replaces every occurrence of the given secret values (8+ characters: shorter ones would hit ordinary words) in text. */
export function redactKnown(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 8 && out.includes(s)) out = out.split(s).join('[redacted]');
  return out;
}

/**
 * A classified provider answer with the values we sent (refresh token, client secret) removed from
 * its error code and description: some providers echo what they were sent, and both fields are
 * stored (RefreshAttempt, Connection), logged, returned by the API and sent in webhooks.
 */
export function redactEchoedSecrets<T extends object>(c: T, secrets: readonly (string | undefined)[]): T {
  const x = c as T & { code?: unknown; description?: unknown };
  if (typeof x.code !== 'string' && typeof x.description !== 'string') return c;
  return {
    ...c,
    ...(typeof x.code === 'string' ? { code: redactKnown(x.code, secrets).slice(0, 200) } : {}),
    ...(typeof x.description === 'string' ? { description: redactKnown(x.description, secrets) } : {}),
  };
}
