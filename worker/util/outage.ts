// Is this error an outage of PostgreSQL or Redis (retry later) rather than a bug? Pure.
// Used to answer 503 with Retry-After instead of 500 when a dependency is down.

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);
// Prisma: can't reach / timed out / closed connection / pool timeout; PostgreSQL: admin shutdown,
// cannot connect now, too many connections.
const SERVICE_CODES = new Set([
  'P1001',
  'P1002',
  'P1008',
  'P1017',
  'P2024',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);
const MESSAGE_RE =
  /connection terminated|connection is closed|connect ECONNREFUSED|ECONNRESET|timeout exceeded when trying to connect|can't reach database|server closed the connection|the database system is (starting up|shutting down)|max retries per request|stream isn't writeable|Connection in subscriber mode|ETIMEDOUT/i;

export function isOutage(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 4) return false;
  const e = err as {
    code?: unknown;
    name?: unknown;
    message?: unknown;
    cause?: unknown;
    errorCode?: unknown;
    meta?: { code?: unknown };
  };
  const codes = [e.code, e.errorCode, e.meta?.code].filter((c): c is string => typeof c === 'string');
  if (codes.some((c) => NETWORK_CODES.has(c) || SERVICE_CODES.has(c))) return true;
  if (e.name === 'PrismaClientInitializationError' || e.name === 'MaxRetriesPerRequestError') return true;
  if (typeof e.message === 'string' && MESSAGE_RE.test(e.message)) return true;
  return isOutage(e.cause, depth + 1);
}
