// How provider keys appear in environment variable names, and the variables read per provider.
// The one place that maps a key to its env form (github-app -> GITHUB_APP) and back. Pure: reading
// ${VAR} and VAR_FILE is substitute-env.ts's job.

export type Env = Record<string, string | undefined>;

/** A provider key as it appears in env variable names: upper-cased, anything else as _. */
function providerEnvKey(key: string): string {
  return key.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** <KEY>_<suffix>, e.g. GITHUB_APP_CLIENT_ID. */
export function providerEnvName(key: string, suffix: string): string {
  return `${providerEnvKey(key)}_${suffix}`;
}

const CRON_PREFIX = 'REFRESH_CRON_';

/**
 * REFRESH_CRON_<PROVIDER>=<cron> overrides a provider's cron schedule. Env names lose the
 * difference between - and _, so the key comes back with - (matched on that normal form).
 */
export function cronOverrideFromEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith(CRON_PREFIX) && v) out[k.slice(CRON_PREFIX.length).toLowerCase().replace(/_/g, '-')] = v;
  }
  return out;
}

/** The variable that overrides this provider's cron schedule. */
export function cronEnvName(key: string): string {
  return `${CRON_PREFIX}${providerEnvKey(key)}`;
}
