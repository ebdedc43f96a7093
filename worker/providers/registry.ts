// The live set of provider definitions: loaded at start, swapped in place on reload (SIGHUP).
// Loading is in load.ts, validation in resolve.ts and fields.ts, env names in env.ts.
import { buildAll, type LoadOptions } from './load.ts';
import { cronOverrideFromEnv, type Env } from './env.ts';
import type { ResolvedProvider } from './resolve.ts';

// The modules above are the implementation; callers keep importing these names from here.
export { ProviderConfigError } from './config-error.ts';
export { resolveProvider, type ResolvedProvider } from './resolve.ts';
export { fillTokenUrl } from './token-url.ts';

export interface ReloadResult {
  /** Providers whose definition changed in any field. */
  changed: string[];
  /** Providers whose client id or secret changed (their credential breaker may close). */
  credentialsChanged: string[];
  /** New in PROVIDERS_FILE: usable by the API at once; their refresh worker starts on the next restart. */
  added: string[];
  /** Gone from PROVIDERS_FILE: kept until the next restart (connections may still reference them). */
  removed: string[];
}

/** Comparable form of a definition (hooks are code and never change on reload). */
function comparable(p: ResolvedProvider): string {
  const { hooks: _h, ...rest } = p;
  return JSON.stringify(rest);
}

export class ProviderRegistry {
  private readonly listeners: ((r: ReloadResult) => void)[] = [];

  private constructor(
    private readonly map: Map<string, ResolvedProvider>,
    private readonly opts: LoadOptions,
  ) {}

  static load(opts: LoadOptions): ProviderRegistry {
    const env = opts.env ?? process.env;
    return new ProviderRegistry(buildAll(opts, env), opts);
  }

  /**
   * Re-reads PROVIDERS_FILE and the environment (SIGHUP). Definitions are swapped in place, so
   * every holder of a ResolvedProvider sees the new values. On any error nothing changes and the
   * error (naming provider and field) is thrown.
   */
  reload(env?: Env): ReloadResult {
    // cronOverride came from the environment at start; re-derive it so REFRESH_CRON_* edits apply.
    const e = env ?? (this.opts.env === undefined ? process.env : this.opts.env);
    const fresh = buildAll({ ...this.opts, cronOverride: { ...this.opts.cronOverride, ...cronOverrideFromEnv(e) } }, e);
    const result: ReloadResult = { changed: [], credentialsChanged: [], added: [], removed: [] };
    for (const [key, next] of fresh) {
      const cur = this.map.get(key);
      if (!cur) {
        this.map.set(key, next);
        result.added.push(key);
        continue;
      }
      if (comparable(cur) === comparable(next)) continue;
      result.changed.push(key);
      if (cur.credentialsFingerprint !== next.credentialsFingerprint) result.credentialsChanged.push(key);
      const target = cur as unknown as Record<string, unknown>;
      for (const k of Object.keys(target)) if (!(k in next)) delete target[k];
      Object.assign(target, next);
    }
    for (const key of this.map.keys()) if (!fresh.has(key)) result.removed.push(key);
    for (const l of this.listeners) {
      try {
        l(result);
      } catch {
        /* a listener's failure never undoes a reload */
      }
    }
    return result;
  }

  /** Called after each successful reload (breaker: close on new credentials; cron: new schedules). */
  onReload(listener: (r: ReloadResult) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  get(key: string): ResolvedProvider | undefined {
    return this.map.get(key);
  }

  all(): ResolvedProvider[] {
    return [...this.map.values()];
  }
}
