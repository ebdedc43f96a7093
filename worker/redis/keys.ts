// Key layout on Redis (one node or a cluster). A hash tag ({...}) decides a key's cluster slot.

/** QUEUE_PREFIX without its braces: "{oauth-refresher}" and "oauth-refresher" name the same namespace. */
export function namespaceOf(queuePrefix: string): string {
  return queuePrefix.replace(/^\{(.*)\}$/, '$1');
}

/** A connection's lock key, tagged with the connection's own id so locks spread over the cluster's slots. */
export function lockKey(queuePrefix: string, connectionId: string): string {
  return `${namespaceOf(queuePrefix)}:lock:{${connectionId}}`;
}

/**
 * BullMQ's prefix for one queue: the queue's name is the hash tag, so each queue (every key BullMQ
 * builds for it, and its Lua scripts) lives in one slot of its own and different queues spread over
 * the cluster's nodes. The tag leaves the namespace out on purpose: a queue's slot, and so its
 * node, is the same in every deployment (tests can rely on where a queue lands).
 */
export function queuePrefixFor(queuePrefix: string, queueName: string): string {
  return `${namespaceOf(queuePrefix)}:{${queueName}}`;
}

/** A key of one queue in BullMQ's layout (prefix:queue:suffix): a job's hash (suffix = job id), `delayed`, `marker`... */
export function queueKeyOf(queuePrefix: string, queueName: string, suffix: string): string {
  return `${queuePrefixFor(queuePrefix, queueName)}:${queueName}:${suffix}`;
}

/** The Redis key of a BullMQ job's hash. */
export function jobKeyOf(queuePrefix: string, queueName: string, jobId: string): string {
  return queueKeyOf(queuePrefix, queueName, jobId);
}

/** A SCAN pattern matching every key the daemon keeps under a QUEUE_PREFIX (queues, jobs, locks). */
export function namespacePattern(queuePrefix: string): string {
  return `${namespaceOf(queuePrefix).replace(/[*?[\]\\]/g, '\\$&')}:*`;
}
