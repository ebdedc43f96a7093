// Starts the daemon as a real child process, the way `npm start` does, and stops it by signal.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface DaemonProcess {
  child: ChildProcess;
  port: number;
  output: () => string;
  /** Sends a signal and resolves with the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/**
 * Starts `npm start` and waits for /healthz: on the API's port, or, for a process without the api
 * role, on its METRICS_PORT (the metrics listener answers /healthz too).
 */
export async function spawnDaemon(env: Record<string, string | undefined>, timeoutMs = 30_000): Promise<DaemonProcess> {
  const apiPort = await freePort();
  const noApi =
    env.ROLES !== undefined &&
    !env.ROLES.split(',')
      .map((r) => r.trim())
      .includes('api');
  const port = noApi && env.METRICS_PORT ? Number(env.METRICS_PORT) : apiPort;
  // One process, like `npm start` (node --import tsx): a signal reaches the daemon itself. The tsx
  // CLI would fork a grandchild that outlives a SIGKILL of its launcher.
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'worker', 'main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      PORT: String(apiPort),
      LOG_LEVEL: env.LOG_LEVEL ?? 'info',
      LOG_PRETTY: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`daemon exited early (${child.exitCode}): ${out.slice(-2000)}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`daemon did not start within ${timeoutMs} ms: ${out.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    port,
    output: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
