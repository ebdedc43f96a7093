// A real Redis Cluster on loopback for the cluster suite: 3 masters + 3 replicas of Debian's
// redis-server on free ports, temp dirs, created with redis-cli --cluster create.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

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

export class LocalRedisCluster {
  readonly nodes: RedisClusterNode[] = [];
  private dir = '';

  /** host:port list for REDIS_CLUSTER_NODES. */
  get seeds(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  async start(count = 6): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'ort-cluster-'));
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      const proc = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(this.dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '1500',
          '--dir',
          this.dir,
          '--dbfilename',
          `dump-${port}.rdb`,
          '--appendonly',
          'no',
          '--save',
          '',
          '--maxmemory-policy',
          'noeviction',
        ],
        { stdio: 'ignore' },
      );
      this.nodes.push({ port, proc });
    }
    for (const n of this.nodes) await this.waitPing(n.port);
    await run('redis-cli', [
      '--cluster',
      'create',
      ...this.nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    await this.waitOk();
  }

  private async waitPing(port: number): Promise<void> {
    for (let i = 0; i < 100; i++) {
      try {
        await run('redis-cli', ['-p', String(port), 'ping']);
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
          .filter((n) => n.proc.exitCode === null && n.proc.signalCode === null)
          .map((n) =>
            run('redis-cli', ['-p', String(n.port), 'cluster', 'info']).then(
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

  /** Ports of the current masters (asked of one live node). */
  async masterPorts(): Promise<number[]> {
    const live = this.nodes.find((n) => n.proc.exitCode === null && n.proc.signalCode === null)!;
    const r = new Redis(live.port, '127.0.0.1');
    try {
      const text = String(await r.cluster('NODES'));
      return text
        .split('\n')
        .filter((l) => l.includes('master') && !l.includes('fail'))
        .map((l) => Number(/:(\d+)@/.exec(l)![1]));
    } finally {
      r.disconnect();
    }
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) n.proc.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
