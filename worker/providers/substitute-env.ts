// ${VAR} in provider definitions, read from the environment or the file named by VAR_FILE. Apart
// from env.ts (pure naming rules) because it reads files.
import { readFileSync } from 'node:fs';
import { ProviderConfigError } from './config-error.ts';
import type { Env } from './env.ts';

/** Fills ${VAR} from the environment (or the file named by VAR_FILE); a missing variable is a config error naming it. */
export function substituteEnv(
  value: string,
  env: Env,
  provider: string,
  field: string,
  optional: boolean,
): string | undefined {
  let missing: string | undefined;
  const out = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const fileVar = env[`${name}_FILE`];
    if (fileVar) {
      try {
        return readFileSync(fileVar, 'utf8').trim();
      } catch {
        throw new ProviderConfigError(provider, field, `cannot read file named by ${name}_FILE`);
      }
    }
    const v = env[name];
    if (v === undefined || v === '') {
      missing = name;
      return '';
    }
    return v;
  });
  if (missing) {
    if (optional) return undefined;
    throw new ProviderConfigError(provider, field, `environment variable ${missing} is not set`);
  }
  return out;
}
