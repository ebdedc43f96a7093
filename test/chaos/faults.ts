// Fault injection for the chaos suite only, composed into the daemon by test/chaos/daemon-entry.ts
// (the daemon itself never imports it). Off unless ORT_ENABLE_FAULT_INJECTION=1; then
//   ORT_FAULT_KILL_AT="after_answer:0.1,before_call:0.05" kills this process with SIGKILL at that
//     point of a refresh with that probability;
//   ORT_FAULT_PAUSE_AT="after_answer:0.02:20000[:N]" freezes the whole process (event loop blocked,
//     like a long GC or VM pause) for 20 s at that point with that probability (at most N times per
//     process when N is given); ORT_FAULT_PAUSE_PROVIDERS
//     (comma-separated provider keys) limits pauses to those providers' connections;
//   ORT_FAULT_CONTROL_FILE=/path.json: the same settings as JSON ({"killAt": "...", "pauseAt": "...",
//     "pauseProviders": "...", "clockSkewMs": N}), re-read whenever the file changes, so the suite
//     switches faults without restarting the process.
// Each firing prints one line on stderr ("fault injection: SIGKILL at <point> connection=<id>"),
// which the chaos suite reads to explain what it sees.
// ORT_CLOCK_SKEW_MS=N (or "clockSkewMs" in the control file) makes this process's clock (the Daemon
// `now` option) run N ms ahead (negative: behind) of the machine's.
import { readFileSync, statSync } from 'node:fs';
import { FAULT_POINTS, type FaultHook } from '../../worker/interfaces.ts';

type Env = Record<string, string | undefined>;
const POINTS: readonly string[] = FAULT_POINTS;

interface Plan {
  prob: number;
  ms: number;
  /** How many more times it may fire (Infinity: no limit). */
  left: number;
}

function parsePlan(name: string, raw: string | undefined, withDuration: boolean): Map<string, Plan> {
  const plan = new Map<string, Plan>();
  for (const part of (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [point, p, d, n] = part.split(':');
    const prob = Number(p ?? '1');
    const ms = Number(d ?? '0');
    const left = n === undefined ? Infinity : Number(n);
    if (!POINTS.includes(point) || !(prob >= 0 && prob <= 1) || (withDuration && !(ms > 0)) || !(left >= 0)) {
      throw new Error(
        `${name}: bad entry "${part}" (use point:probability${withDuration ? ':milliseconds[:times]' : ''}, points ${POINTS.join(', ')})`,
      );
    }
    plan.set(point, { prob, ms, left });
  }
  return plan;
}

interface Settings {
  kills: Map<string, Plan>;
  pauses: Map<string, Plan>;
  pauseProviders: Set<string>;
  clockSkewMs: number;
}

function settingsFrom(src: {
  killAt?: string;
  pauseAt?: string;
  pauseProviders?: string;
  clockSkewMs?: string | number;
}): Settings {
  const skew = Number(src.clockSkewMs ?? 0);
  if (!Number.isInteger(skew) || Math.abs(skew) > 3600_000)
    throw new Error(`clock skew must be an integer number of ms (|N| <= 3600000), got "${src.clockSkewMs}"`);
  return {
    kills: parsePlan('ORT_FAULT_KILL_AT', src.killAt, false),
    pauses: parsePlan('ORT_FAULT_PAUSE_AT', src.pauseAt, true),
    pauseProviders: new Set(
      (src.pauseProviders ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
    clockSkewMs: skew,
  };
}

/** The live fault settings of this process: env first, then the control file whenever it changes. */
class FaultControl {
  settings: Settings;
  private mtimeMs = -1;

  constructor(private readonly env: Env) {
    this.settings = settingsFrom({
      killAt: env.ORT_FAULT_KILL_AT,
      pauseAt: env.ORT_FAULT_PAUSE_AT,
      pauseProviders: env.ORT_FAULT_PAUSE_PROVIDERS,
      clockSkewMs: env.ORT_CLOCK_SKEW_MS,
    });
    if (env.ORT_FAULT_CONTROL_FILE) {
      this.reload();
      setInterval(() => this.reload(), 250).unref();
    }
  }

  private reload(): void {
    const file = this.env.ORT_FAULT_CONTROL_FILE!;
    try {
      const st = statSync(file);
      if (st.mtimeMs === this.mtimeMs) return;
      this.settings = settingsFrom(JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>);
      this.mtimeMs = st.mtimeMs;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        process.stderr.write(`fault injection: cannot read ${file}: ${String(e)}\n`);
    }
  }
}

let control: FaultControl | undefined;
function controlFor(env: Env): FaultControl | undefined {
  if (env.ORT_ENABLE_FAULT_INJECTION !== '1') return undefined;
  control ??= new FaultControl(env);
  return control;
}

/** Blocks the event loop (timers, I/O, heartbeats: everything) for ms. */
function freeze(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function faultPointFromEnv(env: Env = process.env): FaultHook | undefined {
  const c = controlFor(env);
  if (!c) return undefined;
  return (point, ctx) => {
    const { kills, pauses, pauseProviders } = c.settings;
    const where = ctx?.connectionId ? ` connection=${ctx.connectionId}` : '';
    const kill = kills.get(point);
    if (kill && Math.random() < kill.prob) {
      process.stderr.write(`fault injection: SIGKILL at ${point}${where}\n`);
      process.kill(process.pid, 'SIGKILL');
    }
    const pause = pauses.get(point);
    if (
      pause &&
      pause.left > 0 &&
      (pauseProviders.size === 0 || (ctx?.provider && pauseProviders.has(ctx.provider))) &&
      Math.random() < pause.prob
    ) {
      pause.left--;
      process.stderr.write(`fault injection: PAUSE at ${point}${where} for ${pause.ms} ms\n`);
      freeze(pause.ms);
      process.stderr.write(`fault injection: RESUMED at ${point}${where}\n`);
    }
  };
}

/** The process clock with the configured skew (ORT_CLOCK_SKEW_MS or the control file), or undefined when off. */
export function skewedClockFromEnv(env: Env = process.env): (() => number) | undefined {
  const c = controlFor(env);
  if (!c) return undefined;
  return () => Date.now() + c.settings.clockSkewMs;
}
