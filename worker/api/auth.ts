// Bearer keys, compared in constant time. Every configured key is checked (no early exit), and a
// failure says nothing about which part was wrong. A header that passed is remembered (a bounded
// map, this process's memory only), so an app's repeat requests skip the hashing: a map lookup by
// the exact header string can only find a header that already matched a key in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export type Scope = 'read' | 'token';

/** A preHandler that lets a request through only with a key of the scope ('token' keys can read). */
export type AuthHook = (scope: Scope) => (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** Headers remembered at most: a few per key (spellings of "Bearer", spacing); failures never. */
const PASSED_MAX = 64;

export class ApiKeys {
  private readonly digests: { d: Buffer; scope: Scope }[];
  private readonly passed = new Map<string, Scope>();

  constructor(keys: { key: string; scope: Scope }[]) {
    this.digests = keys.map((k) => ({ d: createHash('sha256').update(k.key).digest(), scope: k.scope }));
  }

  /** The scope of the presented key, or null. */
  check(header: string | undefined): Scope | null {
    if (header === undefined) return null;
    const known = this.passed.get(header);
    if (known) return known;
    const scope = this.compare(header);
    if (scope) {
      if (this.passed.size >= PASSED_MAX) this.passed.delete(this.passed.keys().next().value!);
      this.passed.set(header, scope);
    }
    return scope;
  }

  private compare(header: string): Scope | null {
    const m = /^Bearer\s+(.+)$/i.exec(header);
    const presented = createHash('sha256')
      .update(m ? m[1].trim() : '\u0000invalid')
      .digest();
    let found: Scope | null = null;
    for (const k of this.digests) {
      if (timingSafeEqual(k.d, presented) && found !== 'token') found = k.scope;
    }
    return found;
  }
}

export function bearerAuth(keys: ApiKeys): AuthHook {
  return (scope: Scope) => async (req: FastifyRequest, reply: FastifyReply) => {
    const got = keys.check(req.headers.authorization);
    if (!got) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
    if (scope === 'token' && got !== 'token') return reply.code(403).send({ error: 'forbidden' });
  };
}
