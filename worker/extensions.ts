// The concerns that plug into the daemon besides the core pipeline. Each lives in its own folder.
import type { Config } from './config/env.ts';
import type { DaemonExtension } from './daemon.ts';

export function defaultExtensions(_config: Config): DaemonExtension[] {
  return [];
}
