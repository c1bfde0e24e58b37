// /train's limits against a real redis-server: each job counts until released or until its TTL,
// per user and in all.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { isActive, releaseActive, reserveActive } from "../../src/interactions/active.ts";
import { OTHER, OWNER } from "../support/interactions_support.ts";
import { RedisServer } from "../support/redis_server.ts";

let redisServer: RedisServer;

let redis: Redis;

before(async () => {
  redisServer = await RedisServer.start();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
});

after(async () => {
  redis.disconnect();
  await redisServer.stop();
});

const limits = { maxJobsPerUser: 2, maxJobsTotal: 3, activeJobTtlS: 60 };

void test("the limits: each job counts until released or until its TTL, per user and in all", async () => {
  await redis.flushall();
  const now = 1_000_000;
  assert.deepEqual(await reserveActive(redis, limits, OWNER, "a", now), { kind: "reserved", ahead: 0 });
  assert.deepEqual(await reserveActive(redis, limits, OWNER, "b", now), { kind: "reserved", ahead: 1 });
  assert.deepEqual(await reserveActive(redis, limits, OWNER, "c", now), { kind: "user_limit", active: 2 });
  assert.deepEqual(await reserveActive(redis, limits, OTHER, "d", now), { kind: "reserved", ahead: 2 });
  assert.deepEqual(await reserveActive(redis, limits, 5n, "e", now), { kind: "total_limit", active: 3 });
  assert.equal(await isActive(redis, OWNER, "a", now), true);
  assert.equal(await isActive(redis, OWNER, "a", now + 60_000), false); // past its TTL
  assert.equal(await isActive(redis, OWNER, "c", now), false); // refused, so never counted
  await releaseActive(redis, OWNER, "a");
  assert.equal(await isActive(redis, OWNER, "a", now), false);
  assert.deepEqual(await reserveActive(redis, limits, 5n, "e", now), { kind: "reserved", ahead: 2 });
  // Past the TTL nothing counts any more.
  assert.deepEqual(await reserveActive(redis, limits, OWNER, "f", now + 61_000), { kind: "reserved", ahead: 0 });
});
