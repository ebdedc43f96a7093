// The ops command registry. One module per command; `npm run ops -- <command> --help` for each.
import type { OpsCommand } from '../types.ts';
import { failedCommand } from './failed.ts';
import { connectionsCommand } from './connections.ts';
import { whyCommand } from './why.ts';
import { reportCommand } from './report.ts';
import { refreshCommand } from './refresh.ts';
import { reconcileCommand } from './reconcile.ts';
import { providersCommand } from './providers.ts';
// ---- commands owned by other concerns (key rotation, webhooks/outbox) -----------------------
import { keysCommand } from './keys.ts';
import { webhooksCommand } from './webhooks.ts';
// ---------------------------------------------------------------------------------------------

export const COMMANDS: OpsCommand[] = [
  failedCommand,
  connectionsCommand,
  whyCommand,
  reportCommand,
  refreshCommand,
  reconcileCommand,
  providersCommand,
  // ---- other concerns' commands (see above) ----
  keysCommand,
  webhooksCommand,
];
