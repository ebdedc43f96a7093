// Child processes of the chaos suite: daemons (one slot each, respawned when they die while the
// slot is wanted), the fake providers and the suite's own redis-server. Every child is killed when
// the suite exits, also on Ctrl-C or a crash.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const children = new Set<ChildProcess>();

function killAllChildren(): void {
  for (const c of children) {
    try {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

let hooked = false;
export function installCleanup(extra: () => void): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    killAllChildren();
    extra();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nchaos: ${sig}, killing children\n`);
      process.exit(130);
    });
  }
}

export function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.on('exit', () => children.delete(c));
  return c;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Spawns a process that prints one JSON ready line on stdout; resolves with it. */
export async function spawnReady<T>(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; log: string; timeoutMs?: number },
): Promise<{ child: ChildProcess; ready: T }> {
  const child = track(
    spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  const log = createWriteStream(opts.log, { flags: 'a' });
  child.stderr!.pipe(log);
  const ready = await new Promise<T>((resolve, reject) => {
    const t = setTimeout(
      () =>
        reject(
          new Error(`${cmd} ${args.join(' ')}: no ready line within ${opts.timeoutMs ?? 30000} ms (see ${opts.log})`),
        ),
      opts.timeoutMs ?? 30000,
    );
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      clearTimeout(t);
      try {
        resolve(JSON.parse(line) as T);
      } catch {
        reject(new Error(`bad ready line: ${line}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}) before ready; see ${opts.log}`)));
  });
  child.stdout!.pipe(log);
  return { child, ready };
}

export interface DeathRecord {
  slot: number;
  workerId: string;
  at: number;
  signal: NodeJS.Signals | null;
  code: number | null;
  /** Set when the daemon killed itself by fault injection at this point. */
  point?: string;
  pointConnection?: string;
  /** Set when the suite sent the signal. */
  external?: NodeJS.Signals;
}

export interface PauseRecord {
  workerId: string;
  point: string;
  connectionId: string;
  at: number;
}

interface Slot {
  index: number;
  port: number;
  env: NodeJS.ProcessEnv;
  child?: ChildProcess;
  workerId?: string;
  gen: number;
  wanted: boolean;
  externalSignal?: NodeJS.Signals;
  lastPoint?: { point: string; connection?: string };
}

/** N daemon slots on the same Redis and PostgreSQL, each `node --import tsx test/chaos/daemon-entry.ts` (worker/main.ts with the fault hooks; one process: signals hit the daemon itself). */
export class DaemonFleet {
  readonly slots: Slot[] = [];
  readonly deaths: DeathRecord[] = [];
  readonly pauses: PauseRecord[] = [];
  private readonly logs = new Map<number, WriteStream>();

  constructor(
    private readonly cwd: string,
    private readonly logDir: string,
    private readonly baseEnv: NodeJS.ProcessEnv,
    ports: number[],
    private readonly progress: (s: string) => void,
  ) {
    ports.forEach((port, index) => this.slots.push({ index, port, env: {}, gen: 0, wanted: false }));
  }

  url(slot: number): string {
    return `http://127.0.0.1:${this.slots[slot].port}`;
  }

  isUp(slot: number): boolean {
    const c = this.slots[slot].child;
    return Boolean(c && c.exitCode === null && c.signalCode === null);
  }

  upSlots(): number[] {
    return this.slots.filter((s) => this.isUp(s.index)).map((s) => s.index);
  }

  setEnv(slot: number, env: NodeJS.ProcessEnv): void {
    this.slots[slot].env = env;
  }

  private log(slot: number): WriteStream {
    let l = this.logs.get(slot);
    if (!l) {
      l = createWriteStream(join(this.logDir, `daemon-${slot + 1}.log`), { flags: 'a' });
      this.logs.set(slot, l);
    }
    return l;
  }

  start(slot: number): void {
    const s = this.slots[slot];
    s.wanted = true;
    if (this.isUp(slot)) return;
    s.gen++;
    s.workerId = `d${slot + 1}.g${s.gen}`;
    s.externalSignal = undefined;
    s.lastPoint = undefined;
    const workerId = s.workerId;
    const child = track(
      spawn(process.execPath, ['--import', 'tsx', 'test/chaos/daemon-entry.ts'], {
        cwd: this.cwd,
        env: { ...this.baseEnv, ...s.env, PORT: String(s.port), WORKER_ID: workerId },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    s.child = child;
    const log = this.log(slot);
    log.write(`--- ${new Date().toISOString()} start ${workerId} pid ${child.pid}\n`);
    child.stdout!.on('data', (b: Buffer) => log.write(b));
    const rl = createInterface({ input: child.stderr! });
    rl.on('line', (line) => {
      log.write(`${line}\n`);
      const kill = /^fault injection: SIGKILL at (\w+)(?: connection=(\S+))?/.exec(line);
      if (kill) s.lastPoint = { point: kill[1], connection: kill[2] };
      const pause = /^fault injection: PAUSE at (\w+) connection=(\S+)/.exec(line);
      if (pause) this.pauses.push({ workerId, point: pause[1], connectionId: pause[2], at: Date.now() });
    });
    child.on('exit', (code, signal) => {
      // Let the last stderr lines arrive before judging how it died.
      setTimeout(() => {
        const rec: DeathRecord = { slot, workerId, at: Date.now(), code, signal, external: s.externalSignal };
        if (s.lastPoint && signal === 'SIGKILL' && !s.externalSignal) {
          rec.point = s.lastPoint.point;
          rec.pointConnection = s.lastPoint.connection;
        }
        this.deaths.push(rec);
        log.write(
          `--- ${new Date().toISOString()} exit ${workerId} code ${code} signal ${signal}${rec.point ? ` (fault ${rec.point})` : ''}\n`,
        );
        if (s.child === child && s.wanted) {
          s.child = undefined;
          setTimeout(() => {
            if (s.wanted && !this.isUp(slot)) this.start(slot);
          }, 300);
        }
      }, 50);
    });
  }

  async waitHealthy(slot: number, timeoutMs = 40_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const r = await fetch(`${this.url(slot)}/healthz`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) return;
      } catch {
        /* not yet */
      }
      await sleep(200);
    }
    throw new Error(
      `daemon ${slot + 1} not healthy within ${timeoutMs} ms (see ${join(this.logDir, `daemon-${slot + 1}.log`)})`,
    );
  }

  async waitAllHealthy(timeoutMs = 40_000): Promise<void> {
    await Promise.all(this.slots.filter((s) => s.wanted).map((s) => this.waitHealthy(s.index, timeoutMs)));
  }

  /** Sends a signal; with SIGKILL the slot respawns on its own (if wanted). */
  signal(slot: number, sig: NodeJS.Signals): boolean {
    const s = this.slots[slot];
    if (!this.isUp(slot)) return false;
    s.externalSignal = sig;
    return s.child!.kill(sig);
  }

  async waitExit(slot: number, timeoutMs: number): Promise<boolean> {
    const c = this.slots[slot].child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return true;
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      c.once('exit', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** Graceful restart: SIGTERM, wait for exit (SIGKILL after timeoutMs), start, wait healthy. */
  async restart(
    slot: number,
    timeoutMs = 20_000,
    healthyMs = 60_000,
  ): Promise<{ graceful: boolean; code: number | null; stopMs: number; startMs: number }> {
    const s = this.slots[slot];
    s.wanted = false;
    const c = s.child;
    const t0 = Date.now();
    this.signal(slot, 'SIGTERM');
    let graceful = await this.waitExit(slot, timeoutMs);
    if (!graceful) {
      this.progress(`  daemon ${slot + 1} did not exit ${timeoutMs} ms after SIGTERM; SIGKILL`);
      c?.kill('SIGKILL');
      await this.waitExit(slot, 5000);
    }
    const code = c?.exitCode ?? null;
    if (code !== 0) graceful = false;
    const t1 = Date.now();
    await sleep(80);
    this.start(slot);
    await this.waitHealthy(slot, healthyMs);
    return { graceful, code, stopMs: t1 - t0, startMs: Date.now() - t1 };
  }

  async stopAll(): Promise<void> {
    for (const s of this.slots) s.wanted = false;
    await Promise.all(
      this.slots.map(async (s) => {
        if (!this.isUp(s.index)) return;
        this.signal(s.index, 'SIGTERM');
        if (!(await this.waitExit(s.index, 10_000))) s.child?.kill('SIGKILL');
      }),
    );
    for (const l of this.logs.values()) l.end();
  }
}
