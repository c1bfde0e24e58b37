// What the bots share in Redis about each job: its events (the exact text of each log entry, in
// log order), which bot holds its lease, which jobs are still open, and which runs' final states
// Discord has shown. A bot that restarts, or takes over from a dead one, rebuilds a job's state by
// folding its stored events; storing an entry twice stores it once (members are sets), and so
// does storing the same text from two log entries (a producer that logs an event and a bot that
// bridged it from the channel): the copy first in the log is kept.

import type { Redis } from "ioredis";
import { JOB_KEY_TTL_S, MAX_STORED_BATCH_EVENTS } from "../shared/limits.ts";
import { jobKey, userOfMessageKey, type JobId } from "./job.ts";
import { scripted } from "../shared/redis_scripts.ts";

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
  /** Takes the job's free lease for `owner`: its fencing token (new on every acquisition), or null when another holds it. */
  acquire(job: JobId, owner: string, leaseMs: number): Promise<number | null>;
  /**
   * Renews the lease `owner` took with `token`: "lost" when another acquisition replaced it (or it
   * expired), "closed" when the job left the open set or had no event since `nowMs` - the key expiry
   * (the lease is freed then).
   */
  renew(job: JobId, owner: string, token: number, leaseMs: number, nowMs: number): Promise<LeaseRenewal>;
  /** Milliseconds left on the lease `owner` took with `token`; null when it holds it no more. */
  leaseLeft(job: JobId, owner: string, token: number): Promise<number | null>;
  release(job: JobId, owner: string, token: number): Promise<void>;
  /** Jobs with a run whose final state Discord has not shown yet, oldest activity first. */
  openJobs(limit: number, nowMs: number): Promise<JobId[]>;
  close(job: JobId): Promise<void>;
  /** Whether the job is open (see openJobs): a Cancel button may still stop it. */
  isOpen(job: JobId): Promise<boolean>;
  isDone(messageKey: string): Promise<boolean>;
  markDone(messageKey: string): Promise<void>;
}

export type LeaseRenewal = "held" | "lost" | "closed";

/** The lease's value: the owner's name and the acquisition's fencing token. */
export function leaseHolder(owner: string, token: number): string {
  return `${owner}#${token}`;
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

export class RedisJobStore implements JobStore {
  private readonly redis: Redis;

  /** `prefix` is the bot's key prefix (`digits:bot:<group>:`). */
  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    this.redis = scripted(redis);
  }

  private key(kind: string, job: JobId): string {
    return `${this.prefix}${kind}:${jobKey(job)}`;
  }

  async append(entries: readonly StoredEntry[], nowMs: number): Promise<void> {
    if (entries.length === 0) return;
    const multi = this.redis.multi();
    const jobs = new Map<string, JobId>();
    for (const entry of entries) {
      multi.digitsStoreFirstCopy(this.key(entry.batch ? "batches" : "events", entry.job), this.key("texts", entry.job), entry.member);
      jobs.set(jobKey(entry.job), entry.job);
    }
    for (const [key, job] of jobs) {
      multi.zremrangebyrank(this.key("batches", job), 0, -(MAX_STORED_BATCH_EVENTS + 1));
      multi.expire(this.key("events", job), JOB_KEY_TTL_S);
      multi.expire(this.key("batches", job), JOB_KEY_TTL_S);
      multi.expire(this.key("texts", job), JOB_KEY_TTL_S);
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

  async acquire(job: JobId, owner: string, leaseMs: number): Promise<number | null> {
    const token = await this.redis.digitsLeaseAcquire(this.key("lease", job), this.key("fence", job), owner, leaseMs, JOB_KEY_TTL_S);
    return token > 0 ? token : null;
  }

  async renew(job: JobId, owner: string, token: number, leaseMs: number, nowMs: number): Promise<LeaseRenewal> {
    const oldest = nowMs - JOB_KEY_TTL_S * 1000;
    const held = leaseHolder(owner, token);
    const reply = await this.redis.digitsLeaseRenew(this.key("lease", job), `${this.prefix}open`, held, leaseMs, jobKey(job), oldest);
    return reply === 1 ? "held" : reply === 0 ? "lost" : "closed";
  }

  async leaseLeft(job: JobId, owner: string, token: number): Promise<number | null> {
    const left = await this.redis.digitsLeaseRemaining(this.key("lease", job), leaseHolder(owner, token));
    return left < 0 ? null : left;
  }

  async release(job: JobId, owner: string, token: number): Promise<void> {
    await this.redis.digitsLeaseRelease(this.key("lease", job), leaseHolder(owner, token));
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
  /** Per job: text → its member (the copy first in the log). */
  private readonly texts = new Map<string, Map<string, string>>();
  private readonly open = new Map<string, JobId>();
  private readonly done = new Set<string>();

  append(entries: readonly StoredEntry[]): Promise<void> {
    for (const entry of entries) {
      const key = jobKey(entry.job);
      const members = this.events.get(key) ?? new Map<string, boolean>();
      const texts = this.texts.get(key) ?? new Map<string, string>();
      const text = textOf(entry.member);
      const stored = texts.get(text);
      if (stored === undefined || entry.member < stored) {
        if (stored !== undefined) members.delete(stored);
        members.set(entry.member, entry.batch);
        texts.set(text, entry.member);
      }
      this.events.set(key, members);
      this.texts.set(key, texts);
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

  /** One process: every lease is its own. */
  acquire(): Promise<number | null> {
    return Promise.resolve(1);
  }

  renew(job: JobId): Promise<LeaseRenewal> {
    return Promise.resolve(this.open.has(jobKey(job)) ? "held" : "closed");
  }

  leaseLeft(): Promise<number | null> {
    return Promise.resolve(Number.POSITIVE_INFINITY);
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
    this.texts.delete(jobKey(job));
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
