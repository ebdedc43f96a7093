// Row ids are PostgreSQL uuids. Checking the shape first turns a malformed id into a field error
// (API) or a usage error (CLI) instead of a database error, and skips a query that cannot match.
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (s: string): boolean => UUID_RE.test(s);
