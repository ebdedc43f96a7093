// The daemon as a child process, started the way `npm start` starts it (tsx worker/main.ts).
// The demo talks to it only over HTTP; this file just starts it, keeps its log lines and stops it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';

export interface DaemonLogLine {
  level: 'warn' | 'error' | 'other';
  text: string;
  /** The pino fields, when the line was JSON. */
  fields?: Record<string, unknown>;
}

const LEVELS: Record<number, DaemonLogLine['level']> = { 40: 'warn', 50: 'error', 60: 'error' };

export class DaemonProcess {
  readonly child: ChildProcess;
  /** The last lines the daemon wrote (pino JSON summarised to "msg (err)"). */
  readonly recent: DaemonLogLine[] = [];
  /** The last warnings and errors (kept apart: info lines would push them out of `recent`). */
  readonly notable: DaemonLogLine[] = [];
  warnings = 0;
  errors = 0;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;
  private readonly listeners: ((l: DaemonLogLine) => void)[] = [];
  /** Names a connection id in log lines (the demo knows its labels). */
  labelFor: (connectionId: string) => string | undefined = () => undefined;

  private constructor(root: string, env: NodeJS.ProcessEnv) {
    const tsxCli = path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    // Own process group: a Ctrl-C in the terminal reaches the demo, which then stops the daemon
    // itself (SIGTERM, as an operator would) and can still clean up after it.
    this.child = spawn(process.execPath, [tsxCli, 'worker/main.ts'], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      });
      this.child.once('error', (err) => {
        this.push({ level: 'error', text: `could not start the daemon: ${err.message}` });
        this.exitCode = -1;
        resolve();
      });
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => this.onLine(line));
    }
  }

  static start(root: string, env: NodeJS.ProcessEnv): DaemonProcess {
    return new DaemonProcess(root, env);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  onLog(f: (l: DaemonLogLine) => void): void {
    this.listeners.push(f);
  }

  private onLine(line: string): void {
    if (!line.trim()) return;
    let entry: DaemonLogLine;
    try {
      const j = JSON.parse(line) as Record<string, unknown> & {
        level?: number;
        msg?: string;
        err?: { message?: string };
      };
      const level = LEVELS[j.level ?? 0] ?? 'other';
      const about: string[] = [];
      if (typeof j.connectionId === 'string') about.push(this.labelFor(j.connectionId) ?? j.connectionId);
      for (const k of ['reason', 'code'] as const) if (typeof j[k] === 'string') about.push(`${k} ${j[k]}`);
      if (j.err?.message) about.push(j.err.message.split('\n')[0]);
      entry = { level, text: `${j.msg ?? line}${about.length ? ` (${about.join(', ')})` : ''}`, fields: j };
    } catch {
      // Not pino JSON: main.ts's one-line start-up failures, or tsx itself.
      entry = { level: 'error', text: line };
    }
    this.push(entry);
  }

  private push(entry: DaemonLogLine): void {
    if (entry.level === 'warn') this.warnings++;
    if (entry.level === 'error') this.errors++;
    this.recent.push(entry);
    if (this.recent.length > 200) this.recent.shift();
    if (entry.level !== 'other') {
      this.notable.push(entry);
      if (this.notable.length > 50) this.notable.shift();
    }
    for (const f of this.listeners) f(entry);
  }

  /** Polls /healthz until it answers 200; fails early with the daemon's own words if it exits. */
  async waitReady(baseUrl: string, timeoutMs: number, aborted: () => boolean): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) {
        const said = (this.notable.length ? this.notable : this.recent)
          .map((l) => l.text)
          .filter(Boolean)
          .slice(-3)
          .join(' / ');
        throw new Error(
          `the daemon exited during start-up (code ${this.exitCode ?? this.exitSignal})${said ? `: ${said}` : ''}`,
        );
      }
      if (aborted()) throw new Error('interrupted');
      try {
        const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
        await res.text();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`the daemon did not answer ${baseUrl}/healthz within ${Math.round(timeoutMs / 1000)} s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** SIGTERM (the daemon drains in-flight refreshes and exits 0), then SIGKILL the group if it hangs. */
  async stop(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; forced: boolean }> {
    let forced = false;
    if (this.running && this.child.pid) {
      try {
        this.child.kill('SIGTERM');
      } catch {
        // already gone
      }
      const done = await Promise.race([
        this.exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs)),
      ]);
      if (!done) {
        forced = true;
        this.killGroup('SIGKILL');
        await Promise.race([this.exited, new Promise((r) => setTimeout(r, 2000))]);
      }
    }
    // tsx runs the script in a grandchild; make sure nothing of the group outlives the demo.
    this.killGroup('SIGKILL');
    return { code: this.exitCode, signal: this.exitSignal, forced };
  }

  /** Last resort, synchronous (usable from process.on('exit')). */
  killGroup(signal: NodeJS.Signals): void {
    if (!this.child.pid) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // no such group: everything already exited
    }
  }
}
