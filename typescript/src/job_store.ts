// What the bots share in Redis about each job: its events (the exact text of each log entry, in
// log order), which bot holds its lease, which jobs are still open, and which runs' final states
// Discord has shown. A bot that restarts, or takes over from a dead one, rebuilds a job's state by
// folding its stored events; storing an entry twice stores it once (members are sets).

import type { Redis } from "ioredis";
import { JOB_KEY_TTL_S, MAX_STORED_BATCH_EVENTS } from "./config.ts";
import { jobKey, userOfMessageKey, type JobId } from "./jobs.ts";

/** One log entry to keep: `member` is memberOf(entry id, text). */
export interface StoredEntry {
  readonly job: JobId;
  readonly member: string;
  /** Batch events are capped per job (newest kept); lifecycle events are all kept. */
  readonly batch: boolean;
}

export interface StoredEvents {
  /** Members after the one asked for, in log order. */
  readonly members: readonly string[];
  /** How many lifecycle (non-batch) events the job has in all. */
  readonly lifecycleCount: number;
  /** How many of `members` are lifecycle events (whether or not this bot can decode them). */
  readonly lifecycleRead: number;
}

export interface JobStore {
  append(entries: readonly StoredEntry[], nowMs: number): Promise<void>;
  read(job: JobId, after: string | null): Promise<StoredEvents>;
  /** Takes the job's lease for `owner`, or renews it when `owner` holds it; false when another does. */
  acquire(job: JobId, owner: string, leaseMs: number): Promise<boolean>;
  release(job: JobId, owner: string): Promise<void>;
  /** Jobs with a run whose final state Discord has not shown yet, oldest activity first. */
  openJobs(limit: number, nowMs: number): Promise<JobId[]>;
  close(job: JobId): Promise<void>;
  /** Whether the job is open (see openJobs): a Cancel button may still stop it. */
  isOpen(job: JobId): Promise<boolean>;
  isDone(messageKey: string): Promise<boolean>;
  markDone(messageKey: string): Promise<void>;
}

/** Log ids (`<ms>-<seq>`) zero-padded so that members sort in log order as plain strings. */
export function memberOf(entryId: string, text: string): string {
  const [ms = "0", seq = "0"] = entryId.split("-");
  return `${ms.padStart(16, "0")}-${seq.padStart(12, "0")}|${text}`;
}

/** The event text of a member. */
export function textOf(member: string): string {
  return member.slice(member.indexOf("|") + 1);
}

/** Inverse of jobKey. */
export function parseJobKey(key: string): JobId | null {
  const userId = userOfMessageKey(key);
  return userId === null ? null : { userId, requestId: key.slice(key.indexOf(":") + 1) };
}

const ACQUIRE = `local v = redis.call('GET', KEYS[1])
if v == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export class RedisJobStore implements JobStore {
  /** `prefix` is the bot's key prefix (`digits:bot:<group>:`). */
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(kind: string, job: JobId): string {
    return `${this.prefix}${kind}:${jobKey(job)}`;
  }

  async append(entries: readonly StoredEntry[], nowMs: number): Promise<void> {
    if (entries.length === 0) return;
    const multi = this.redis.multi();
    const jobs = new Map<string, JobId>();
    for (const entry of entries) {
      multi.zadd(this.key(entry.batch ? "batches" : "events", entry.job), 0, entry.member);
      jobs.set(jobKey(entry.job), entry.job);
    }
    for (const [key, job] of jobs) {
      multi.zremrangebyrank(this.key("batches", job), 0, -(MAX_STORED_BATCH_EVENTS + 1));
      multi.expire(this.key("events", job), JOB_KEY_TTL_S);
      multi.expire(this.key("batches", job), JOB_KEY_TTL_S);
      multi.zadd(`${this.prefix}open`, nowMs, key);
    }
    await multi.exec();
  }

  async read(job: JobId, after: string | null): Promise<StoredEvents> {
    const from = after === null ? "-" : `(${after}`;
    const [events, batches, count] = await Promise.all([
      this.redis.zrangebylex(this.key("events", job), from, "+"),
      this.redis.zrangebylex(this.key("batches", job), from, "+"),
      this.redis.zcard(this.key("events", job)),
    ]);
    return { members: [...events, ...batches].sort(), lifecycleCount: count, lifecycleRead: events.length };
  }

  async acquire(job: JobId, owner: string, leaseMs: number): Promise<boolean> {
    return (await this.redis.eval(ACQUIRE, 1, this.key("lease", job), owner, leaseMs)) === 1;
  }

  async release(job: JobId, owner: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key("lease", job), owner);
  }

  async openJobs(limit: number, nowMs: number): Promise<JobId[]> {
    const open = `${this.prefix}open`;
    await this.redis.zremrangebyscore(open, "-inf", String(nowMs - JOB_KEY_TTL_S * 1000));
    const keys = await this.redis.zrange(open, "0", String(limit - 1));
    return keys.flatMap((key) => parseJobKey(key) ?? []);
  }

  async close(job: JobId): Promise<void> {
    await this.redis.zrem(`${this.prefix}open`, jobKey(job));
  }

  async isOpen(job: JobId): Promise<boolean> {
    return (await this.redis.zscore(`${this.prefix}open`, jobKey(job))) !== null;
  }

  async isDone(messageKey: string): Promise<boolean> {
    return (await this.redis.exists(`${this.prefix}done:${messageKey}`)) === 1;
  }

  async markDone(messageKey: string): Promise<void> {
    await this.redis.set(`${this.prefix}done:${messageKey}`, "1", "EX", JOB_KEY_TTL_S);
  }
}

/** The same in one process's memory: a dry run leaves nothing behind for the real bot. */
export class MemoryJobStore implements JobStore {
  /** Per job: member → whether it is a batch event. */
  private readonly events = new Map<string, Map<string, boolean>>();
  private readonly open = new Map<string, JobId>();
  private readonly done = new Set<string>();

  append(entries: readonly StoredEntry[]): Promise<void> {
    for (const entry of entries) {
      const key = jobKey(entry.job);
      const members = this.events.get(key) ?? new Map<string, boolean>();
      members.set(entry.member, entry.batch);
      this.events.set(key, members);
      this.open.set(key, entry.job);
    }
    return Promise.resolve();
  }

  read(job: JobId, after: string | null): Promise<StoredEvents> {
    const members = [...(this.events.get(jobKey(job)) ?? new Map<string, boolean>())].sort(([a], [b]) => (a < b ? -1 : 1));
    const lifecycleCount = members.filter(([, batch]) => !batch).length;
    const read = members.filter(([member]) => after === null || member > after);
    return Promise.resolve({
      members: read.map(([member]) => member),
      lifecycleCount,
      lifecycleRead: read.filter(([, batch]) => !batch).length,
    });
  }

  acquire(): Promise<boolean> {
    return Promise.resolve(true);
  }

  release(): Promise<void> {
    return Promise.resolve();
  }

  openJobs(limit: number): Promise<JobId[]> {
    return Promise.resolve([...this.open.values()].slice(0, limit));
  }

  /** A closed job's events are dropped: memory stays bounded in a long dry run. */
  close(job: JobId): Promise<void> {
    this.open.delete(jobKey(job));
    this.events.delete(jobKey(job));
    return Promise.resolve();
  }

  isOpen(job: JobId): Promise<boolean> {
    return Promise.resolve(this.open.has(jobKey(job)));
  }

  isDone(messageKey: string): Promise<boolean> {
    return Promise.resolve(this.done.has(messageKey));
  }

  markDone(messageKey: string): Promise<void> {
    this.done.add(messageKey);
    return Promise.resolve();
  }
}
