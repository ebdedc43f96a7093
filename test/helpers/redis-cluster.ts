// A real Redis Cluster on loopback for the cluster suite: 3 masters + 3 replicas of Debian's
// redis-server on free ports, temp dirs, created with redis-cli --cluster create. Optionally
// password-protected (requirepass + masterauth on every node).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createRedis, masters } from '../../worker/redis/connect.ts';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      // Cluster bus port is port+10000: keep the client port low enough for it to exist.
      s.close(() => {
        if (port < 55_000) resolve(port);
        else void freePort().then(resolve, reject);
      });
    });
  });
}

export interface RedisClusterNode {
  port: number;
  proc: ChildProcess;
}

/** Failure detection after 2 s without an answer: a killed master fails over in seconds. */
const NODE_TIMEOUT_MS = 2000;

export class LocalRedisCluster {
  readonly nodes: RedisClusterNode[] = [];
  private dir = '';

  constructor(readonly opts: { password?: string } = {}) {}

  /** REDIS_* variables a daemon needs for this cluster. */
  get env(): Record<string, string> {
    return { REDIS_CLUSTER_NODES: this.seeds, ...(this.opts.password ? { REDIS_PASSWORD: this.opts.password } : {}) };
  }

  private cli(port: number, ...args: string[]) {
    const auth = this.opts.password ? ['--no-auth-warning', '-a', this.opts.password] : [];
    return run('redis-cli', ['-p', String(port), ...auth, ...args]);
  }

  /** host:port list for REDIS_CLUSTER_NODES. */
  get seeds(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  async start(count = 6): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'ort-cluster-'));
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      const proc = spawnRedis(this.dir, port, [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(this.dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        String(NODE_TIMEOUT_MS),
        ...(this.opts.password ? ['--requirepass', this.opts.password, '--masterauth', this.opts.password] : []),
      ]);
      this.nodes.push({ port, proc });
    }
    for (const n of this.nodes) await this.waitPing(n.port);
    await this.cli(
      this.nodes[0].port,
      '--cluster',
      'create',
      ...this.nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    );
    await this.waitOk();
  }

  private async waitPing(port: number): Promise<void> {
    for (let i = 0; i < 100; i++) {
      try {
        await this.cli(port, 'ping');
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`redis-server on ${port} did not start`);
  }

  /** Until every live node reports cluster_state:ok. */
  async waitOk(timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        this.nodes
          .filter((n) => alive(n))
          .map((n) =>
            this.cli(n.port, 'cluster', 'info').then(
              (o) => o.stdout,
              () => '',
            ),
          ),
      );
      if (states.every((s) => s.includes('cluster_state:ok'))) return;
      if (Date.now() > end) throw new Error('cluster did not reach cluster_state:ok');
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Ports of the current masters, as a cluster client sees them (asked of the live nodes). */
  async masterPorts(): Promise<number[]> {
    const r = createRedis(
      {
        kind: 'cluster',
        nodes: this.nodes.filter(alive).map((n) => ({ host: '127.0.0.1', port: n.port })),
        auth: this.auth,
      },
      { role: 'general', lazyConnect: true },
    );
    try {
      await r.connect();
      return masters(r).map((n) => Number(n.options.port));
    } finally {
      r.disconnect();
    }
  }

  /**
   * After a master was killed: until every live node flags it failed (not just suspected) and the
   * cluster is ok again, its slots served by the promoted replica.
   */
  async waitFailover(port: number, timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const views = await Promise.all(
        this.nodes.filter(alive).map((n) =>
          this.cli(n.port, 'cluster', 'nodes').then(
            (o) => o.stdout,
            () => '',
          ),
        ),
      );
      const failed = views.every((v) =>
        v.split('\n').some((l) => l.includes(`:${port}@`) && /\bfail\b/.test(l) && !l.includes('fail?')),
      );
      if (failed) return this.waitOk(Math.max(1000, end - Date.now()));
      if (Date.now() > end) throw new Error(`node ${port} was not failed over`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** SIGKILLs the node on that port (no shutdown, no last save) and waits until it is gone. */
  async kill(port: number): Promise<void> {
    const n = this.nodes.find((x) => x.port === port);
    if (!n) throw new Error(`no node on port ${port}`);
    n.proc.kill('SIGKILL');
    if (alive(n)) await new Promise((r) => n.proc.once('exit', r));
  }

  private get auth() {
    return this.opts.password ? { password: this.opts.password, tls: false } : undefined;
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) n.proc.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function alive(n: RedisClusterNode): boolean {
  return n.proc.exitCode === null && n.proc.signalCode === null;
}

/** A redis-server on loopback, no persistence, noeviction, as every node of the cluster. */
function spawnRedis(dir: string, port: number, extra: string[]): ChildProcess {
  return spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--dbfilename',
      `dump-${port}.rdb`,
      '--appendonly',
      'no',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      ...extra,
    ],
    { stdio: 'ignore' },
  );
}

/** One redis-server of our own, configured as the cluster's nodes are (the bench's one-node side). */
export class LocalRedisServer {
  port = 0;
  proc?: ChildProcess;
  private dir = '';

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'ort-redis-'));
    this.port = await freePort();
    this.proc = spawnRedis(this.dir, this.port, []);
    for (let i = 0; i < 100; i++) {
      try {
        await run('redis-cli', ['-p', String(this.port), 'ping']);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`redis-server on ${this.port} did not start`);
  }

  stop(): void {
    this.proc?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
