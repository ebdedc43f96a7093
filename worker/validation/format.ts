// A request that fails its route's JSON schema is answered the way the API has always answered:
// 400 { error: 'invalid_request', field, message }, the field a dotted path (tokens.access_token,
// scopes[2]) and the message in plain words. This turns Ajv's errors into that pair. Pure.

/** The parts of an Ajv error read here (Ajv runs with verbose: true, so parentSchema is set). */
export interface SchemaError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  /** The schema holding the failed keyword; its `x-message` says the field's rule in words. */
  parentSchema?: unknown;
}

export interface FieldError {
  field: string;
  message: string;
}

/** Where the bare shape of an either-or body names its fields: PUT .../tokens says body.access_token. */
export interface BareBody {
  prefix: string;
  /** The top-level fields of the other shape, named without the prefix. */
  except: readonly string[];
}

/** JSON Pointer segments (RFC 6901) joined the hand validators' way: a.b for keys, a[2] for items. */
function pathOf(instancePath: string, extra?: unknown): string[] {
  const segs = instancePath === '' ? [] : instancePath.slice(1).split('/');
  if (typeof extra === 'string') segs.push(extra);
  return segs.map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~').slice(0, 64));
}

function join(segs: string[]): string {
  return segs.reduce((acc, s) => (/^\d+$/.test(s) && acc ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
}

/** The error a person would fix first: the deepest one (the branch of an anyOf that got furthest). */
function pick(errors: readonly SchemaError[]): SchemaError {
  const real = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== 'if');
  let best = real[0] ?? errors[0];
  for (const e of real) if (pathOf(e.instancePath).length > pathOf(best.instancePath).length) best = e;
  return best;
}

const A_TYPE: Record<string, string> = {
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

function typeWords(t: unknown): string {
  const list = [t].flat().map((x) => A_TYPE[String(x)] ?? String(x));
  return list.length > 1 ? `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}` : list[0];
}

/** The schema's own wording: x-message is one message for every rule, or one per keyword. */
function ownMessage(parentSchema: unknown, keyword: string): string | undefined {
  const m = (parentSchema as Record<string, unknown> | undefined)?.['x-message'];
  if (typeof m === 'string') return m;
  const k = typeof m === 'object' && m !== null ? (m as Record<string, unknown>)[keyword] : undefined;
  return typeof k === 'string' ? k : undefined;
}

/** The generic wording of a failed keyword, for fields whose schema has no x-message. */
function keywordMessage(e: SchemaError, part: string, root: boolean): string {
  const p = e.params;
  switch (e.keyword) {
    case 'required':
      return 'is required';
    case 'type':
      // A query parameter arrives as a string, or as an array when it was repeated.
      if (part === 'querystring') return 'must be given once';
      if (root && p.type === 'object') return 'must be a JSON object';
      return `must be ${typeWords(p.type)}`;
    case 'minLength':
      return p.limit === 1 ? 'must be a non-empty string' : `must be at least ${String(p.limit)} characters`;
    case 'maxLength':
      return `must be at most ${String(p.limit)} characters`;
    case 'maxItems':
      return `must have at most ${String(p.limit)} items`;
    case 'enum': {
      const v = (p.allowedValues as unknown[]).map(String);
      return v.length <= 2 ? `must be ${v.join(' or ')}` : `must be one of ${v.join(', ')}`;
    }
    case 'const':
      return `must be ${String(p.allowedValue)}`;
    case 'additionalProperties':
      return 'is not a known field';
    case 'format':
      return `must be a ${String(p.format)}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${String(p.comparison)} ${String(p.limit)}`;
    default:
      return 'is not valid here';
  }
}

/** The field and message of the first error, named as the API names fields; part is body, querystring or params. */
export function fieldError(errors: readonly SchemaError[], part: string, bare?: BareBody): FieldError {
  const e = pick(errors);
  const extra =
    e.keyword === 'required'
      ? e.params.missingProperty
      : e.keyword === 'additionalProperties'
        ? e.params.additionalProperty
        : undefined;
  const segs = pathOf(e.instancePath, extra);
  if (bare && segs.length > 0 && !bare.except.includes(segs[0])) segs.unshift(bare.prefix);
  const field = join(segs) || part;
  // A field's own wording (x-message) explains its rule. "is required" and "is not a known field"
  // belong to the enclosing object, and a query parameter of the wrong type was repeated.
  const generic =
    e.keyword === 'required' ||
    e.keyword === 'additionalProperties' ||
    (part === 'querystring' && e.keyword === 'type');
  const own = generic ? undefined : ownMessage(e.parentSchema, e.keyword);
  return { field, message: own ?? keywordMessage(e, part, segs.length === 0) };
}
