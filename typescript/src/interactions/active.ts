// Jobs queued or running, per user and in all, for the limits on /train. Kept in Redis so that
// every bot process sees the same counts: one sorted set per user (member: request id) and one for
// all (member: user:request), scored by when the entry stops counting. The bot releases a job when
// its terminal event is folded; an entry whose end is never seen (a crashed worker, a lost event)
// stops counting on its own after the TTL, so nobody is blocked for good.

import type { Redis } from "ioredis";
import { z } from "zod";
import { scripted } from "../shared/redis_scripts.ts";
import { ACTIVE_ALL_KEY, ACTIVE_USER_KEY_PREFIX } from "./settings.ts";

export type Reservation =
  | { readonly kind: "reserved"; readonly ahead: number }
  | { readonly kind: "user_limit"; readonly active: number }
  | { readonly kind: "total_limit"; readonly active: number };

/** digitsActiveReserve's answer (shared/redis_scripts.ts): {verdict, count}, Lua integers as numbers. */
const ReserveReply = z.tuple([z.number().int(), z.number().int()]);

function userKey(userId: bigint): string {
  return ACTIVE_USER_KEY_PREFIX + userId.toString();
}

function allMember(userId: bigint, requestId: string): string {
  return `${userId.toString()}:${requestId}`;
}

export interface Limits {
  readonly maxJobsPerUser: number;
  readonly maxJobsTotal: number;
  readonly activeJobTtlS: number;
}

/** Counts a new job against the limits, atomically; `ahead`: jobs active before it. */
export async function reserveActive(redis: Redis, limits: Limits, userId: bigint, requestId: string, nowMs: number): Promise<Reservation> {
  const expiresMs = nowMs + limits.activeJobTtlS * 1000;
  const reply = await scripted(redis).digitsActiveReserve(
    userKey(userId),
    ACTIVE_ALL_KEY,
    nowMs,
    expiresMs,
    requestId,
    allMember(userId, requestId),
    limits.maxJobsPerUser,
    limits.maxJobsTotal,
    limits.activeJobTtlS,
  );
  const [verdict, count] = ReserveReply.parse(reply);
  if (verdict === 1) return { kind: "reserved", ahead: count };
  if (verdict === 0) return { kind: "user_limit", active: count };
  return { kind: "total_limit", active: count };
}

/** The job has ended (its terminal event is folded) or was never queued: it no longer counts. */
export async function releaseActive(redis: Redis, userId: bigint, requestId: string): Promise<void> {
  await redis.multi().zrem(userKey(userId), requestId).zrem(ACTIVE_ALL_KEY, allMember(userId, requestId)).exec();
}

/** Whether the job still counts as active (queued or running, as far as the bot knows). */
export async function isActive(redis: Redis, userId: bigint, requestId: string, nowMs: number): Promise<boolean> {
  const score = await redis.zscore(userKey(userId), requestId);
  return score !== null && Number(score) > nowMs;
}
