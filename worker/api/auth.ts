// Bearer keys, compared in constant time. Every configured key is checked (no early exit), and a
// failure says nothing about which part was wrong.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export type Scope = 'read' | 'token';

/** A preHandler that lets a request through only with a key of the scope ('token' keys can read). */
export type AuthHook = (scope: Scope) => (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export class ApiKeys {
  private readonly digests: { d: Buffer; scope: Scope }[];

  constructor(keys: { key: string; scope: Scope }[]) {
    this.digests = keys.map((k) => ({ d: createHash('sha256').update(k.key).digest(), scope: k.scope }));
  }

  /** The scope of the presented key, or null. */
  check(header: string | undefined): Scope | null {
    const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
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
