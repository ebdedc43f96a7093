// CPU accounting for the bench from /proc (Linux): per process tree (the daemon under tsx runs in a
// child process), PostgreSQL and Redis server processes (all of them: other users of this machine
// count too), and the machine as a whole. Figures are % of one core (200% = both cores busy).
import { readdirSync, readFileSync } from 'node:fs';

const TICK = 100; // USER_HZ on Linux

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  ticks: number;
}

function procs(): Proc[] {
  const list: Proc[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = s.lastIndexOf(')');
      const comm = s.slice(s.indexOf('(') + 1, close);
      const f = s.slice(close + 2).split(' ');
      // f[0] = state (field 3); utime = field 14, stime = field 15, cutime 16, cstime 17
      list.push({ pid: Number(d), ppid: Number(f[1]), comm, ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      /* exited */
    }
  }
  return list;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function machineBusy(): { busy: number; total: number } {
  const l = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = l[3] + (l[4] ?? 0);
  const total = l.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export class CpuMeter {
  private readonly t0 = performance.now();
  private readonly m0 = machineBusy();
  private readonly start: Map<number, number>;
  private readonly seen = new Map<number, number>();

  /** pgDatabase: count only PostgreSQL backends serving this database (others share the server). */
  constructor(
    private readonly groups: Record<string, number[]>,
    private readonly pgDatabase = process.env.ORT_BENCH_DB ?? '',
  ) {
    this.start = new Map(procs().map((p) => [p.pid, p.ticks]));
    this.sample();
    // Sample now and then so short-lived processes' last ticks are not lost entirely.
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
  }

  private timer: NodeJS.Timeout;
  /** Length of the measured period (set by stop()). */
  seconds = 0;
  private last: Proc[] = [];

  private sample(): void {
    this.last = procs();
    for (const p of this.last) this.seen.set(p.pid, p.ticks);
  }

  private tree(roots: number[], all: Proc[]): Set<number> {
    const set = new Set(roots);
    let grew = true;
    while (grew) {
      grew = false;
      for (const p of all)
        if (!set.has(p.pid) && set.has(p.ppid)) {
          set.add(p.pid);
          grew = true;
        }
    }
    return set;
  }

  /** % of one core per group, plus postgres, redis and the whole machine. */
  stop(): Record<string, number> {
    clearInterval(this.timer);
    this.sample();
    const secs = (performance.now() - this.t0) / 1000;
    this.seconds = secs;
    const all = this.last;
    const used = (pids: Iterable<number>) => {
      let t = 0;
      for (const pid of pids) t += (this.seen.get(pid) ?? 0) - (this.start.get(pid) ?? 0);
      return (t / TICK / secs) * 100;
    };
    const out: Record<string, number> = {};
    for (const [name, roots] of Object.entries(this.groups)) out[name] = used(this.tree(roots, all));
    const backends = all.filter(
      (p) => p.comm === 'postgres' && (!this.pgDatabase || cmdline(p.pid).includes(` ${this.pgDatabase} `)),
    );
    out.postgres = used(backends.map((p) => p.pid));
    out.redis = used(all.filter((p) => p.comm.startsWith('redis-server')).map((p) => p.pid));
    const m1 = machineBusy();
    out.machine =
      ((m1.busy - this.m0.busy) / Math.max(1, m1.total - this.m0.total)) *
      100 *
      (readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? 1);
    return out;
  }
}
