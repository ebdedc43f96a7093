// Key layout on Redis (one node or a cluster). A hash tag ({...}) decides a key's cluster slot.

/** QUEUE_PREFIX without its braces: "{oauth-refresher}" and "oauth-refresher" name the same namespace. */
export function namespaceOf(queuePrefix: string): string {
  return queuePrefix.replace(/^\{(.*)\}$/, '$1');
}

/** A connection's lock key, tagged with the connection's own id so locks spread over the cluster's slots. */
export function lockKey(queuePrefix: string, connectionId: string): string {
  return `${namespaceOf(queuePrefix)}:lock:{${connectionId}}`;
}
