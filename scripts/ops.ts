// `npm run ops -- <command>`: the operator's commands. Thin: configuration, context, dispatch.
import { loadConfig } from '../worker/config/env.ts';
import { runCli } from '../worker/ops/cli.ts';
import { createOpsContext, processIo } from '../worker/ops/context.ts';

const io = processIo();
const code = await runCli(process.argv.slice(2), io, (json) => createOpsContext(loadConfig(), io, json));
process.exitCode = code;
// Let stdout drain, then leave even if a client library keeps a handle open.
setTimeout(() => process.exit(code), 50).unref();
