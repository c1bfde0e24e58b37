// /train's limits against a real redis-server: each job counts until released or until its TTL,
// per user and in all.

import assert from "node:assert/strict";
import { test } from "node:test";
import { isActive, releaseActive, reserveActive } from "../../src/interactions/active.ts";
import { interactionsClient, OTHER, OWNER } from "../support/interactions_support.ts";
import { liveRedis } from "../support/live_redis.ts";

const live = liveRedis(interactionsClient);

const limits = { maxJobsPerUser: 2, maxJobsTotal: 3, activeJobTtlS: 60 };

void test("the limits: each job counts until released or until its TTL, per user and in all", async () => {
  await live.redis.flushall();
  const now = 1_000_000;
  assert.deepEqual(await reserveActive(live.redis, limits, OWNER, "a", now), { kind: "reserved", ahead: 0 });
  assert.deepEqual(await reserveActive(live.redis, limits, OWNER, "b", now), { kind: "reserved", ahead: 1 });
  assert.deepEqual(await reserveActive(live.redis, limits, OWNER, "c", now), { kind: "user_limit", active: 2 });
  assert.deepEqual(await reserveActive(live.redis, limits, OTHER, "d", now), { kind: "reserved", ahead: 2 });
  assert.deepEqual(await reserveActive(live.redis, limits, 5n, "e", now), { kind: "total_limit", active: 3 });
  assert.equal(await isActive(live.redis, OWNER, "a", now), true);
  assert.equal(await isActive(live.redis, OWNER, "a", now + 60_000), false); // past its TTL
  assert.equal(await isActive(live.redis, OWNER, "c", now), false); // refused, so never counted
  await releaseActive(live.redis, OWNER, "a");
  assert.equal(await isActive(live.redis, OWNER, "a", now), false);
  assert.deepEqual(await reserveActive(live.redis, limits, 5n, "e", now), { kind: "reserved", ahead: 2 });
  // Past the TTL nothing counts any more.
  assert.deepEqual(await reserveActive(live.redis, limits, OWNER, "f", now + 61_000), { kind: "reserved", ahead: 0 });
});
