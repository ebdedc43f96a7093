// Per-connection single-flight lock in Redis: owner token, TTL longer than the token request's
// timeout, compare-and-delete release and compare-and-extend heartbeat. The PostgreSQL version
// fence remains the final guard if a lock ever expires under a paused process.
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../redis/connect.ts';
import { lockKey } from '../redis/keys.ts';

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export interface Lease {
  key: string;
  owner: string;
  /** Stops the heartbeat and deletes the key only if we still own it. */
  release(): Promise<boolean>;
  /** True while the heartbeat has not observed a lost lease. */
  held(): boolean;
  /**
   * Milliseconds the lease is still certainly ours by this process's clock: measured from when the
   * last successful SET/extend was sent. A process that was frozen (GC, VM pause) past its TTL sees
   * this at or below zero even though nothing told it the lock was lost.
   */
  remainingMs(): number;
  /**
   * Asks Redis whether the key still holds our owner token (false when Redis is unreachable). A
   * wiped Redis (FLUSHALL, a restart without persistence) drops every lock at once, and the feeder
   * may hand the connection to another process before our heartbeat notices.
   */
  confirm(): Promise<boolean>;
}

/** The two scripts as commands: ioredis sends EVALSHA (40 bytes) instead of the script text each time. */
type LockRedis = RedisClient & {
  ortLockRelease(key: string, owner: string): Promise<number>;
  ortLockExtend(key: string, owner: string, ttlMs: string): Promise<number>;
};

export class ConnectionLocks {
  private readonly redis: LockRedis;

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {
    const r = redis as LockRedis;
    if (typeof r.ortLockRelease !== 'function') {
      r.defineCommand('ortLockRelease', { numberOfKeys: 1, lua: RELEASE });
      r.defineCommand('ortLockExtend', { numberOfKeys: 1, lua: EXTEND });
    }
    this.redis = r;
  }

  get ttl(): number {
    return this.ttlMs;
  }

  key(connectionId: string): string {
    return lockKey(this.prefix, connectionId);
  }

  async tryAcquire(connectionId: string): Promise<Lease | null> {
    const key = this.key(connectionId);
    const owner = randomBytes(12).toString('hex');
    const sentAt = Date.now();
    const ok = await this.redis.set(key, owner, 'PX', this.ttlMs, 'NX');
    if (ok !== 'OK') return null;
    let alive = true;
    let validUntil = sentAt + this.ttlMs;
    // Heartbeat: a refresh that waits on a slow commit keeps its lease instead of letting another process in.
    const timer = setInterval(
      () => {
        const extendSentAt = Date.now();
        this.redis.ortLockExtend(key, owner, String(this.ttlMs)).then(
          (r) => {
            if (Number(r) !== 1) alive = false;
            else validUntil = Math.max(validUntil, extendSentAt + this.ttlMs);
          },
          () => {
            /* Redis blip: the TTL still covers us; the fence guards the rest */
          },
        );
      },
      Math.max(200, Math.floor(this.ttlMs / 3)),
    );
    timer.unref();
    return {
      key,
      owner,
      held: () => alive,
      remainingMs: () => (alive ? validUntil - Date.now() : 0),
      confirm: async () => {
        if (!alive) return false;
        try {
          const ok = (await this.redis.get(key)) === owner;
          if (!ok) alive = false;
          return ok;
        } catch {
          return false;
        }
      },
      release: async () => {
        clearInterval(timer);
        alive = false;
        try {
          return Number(await this.redis.ortLockRelease(key, owner)) === 1;
        } catch {
          return false; // expires by TTL
        }
      },
    };
  }

  async isLocked(connectionId: string): Promise<boolean> {
    return (await this.redis.exists(this.key(connectionId))) === 1;
  }
}
