// Fills a token URL template ({subdomain}, {tenant|common}, {instance_url}) from connection metadata.

const TEMPLATE_VALUE_RE = /^[A-Za-z0-9.-]{1,253}$/;

/** Fills {name} / {name|default} from metadata. Values are host-safe only (no SSRF via metadata). */
export function fillTokenUrl(
  template: string,
  metadata: Record<string, unknown>,
): { ok: true; url: string } | { ok: false; missing: string } {
  let missing: string | undefined;
  const url = template.replace(/\{([a-z_]+)(?:\|([^}]*))?\}/g, (_m, name: string, def?: string) => {
    const v = metadata[name];
    if (typeof v === 'string' && v !== '') {
      // instance_url-like values are full https URLs: keep scheme and host only.
      if (/^https?:\/\//.test(v)) {
        try {
          const u = new URL(v);
          return `${u.protocol}//${u.host}`;
        } catch {
          missing = name;
          return '';
        }
      }
      if (TEMPLATE_VALUE_RE.test(v)) return v;
      missing = name;
      return '';
    }
    if (def !== undefined) return def;
    missing = name;
    return '';
  });
  return missing ? { ok: false, missing } : { ok: true, url };
}
