// An event that reaches the log twice (its producer logged it and a bot bridged it from the
// channel, as a worker of an earlier release and a bridging bot do during a rollout) is stored
// once per job, as the copy first in the log, in both job stores; a job's stored text is then
// folded once. Also: open jobs skip keys that name no job, and the memory store reads an unknown
// or closed job as empty.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type JobStore, memberOf, MemoryJobStore, parseJobKey, RedisJobStore, textOf } from "../../src/jobs/job_store.ts";
import { batch, completed, epochDone, started } from "../support/fixtures.ts";
import { liveRedis } from "../support/live_redis.ts";

const live = liveRedis();

const job = { userId: 7n, requestId: "twice" };

async function storeTwice(store: JobStore): Promise<readonly string[]> {
  const entry = (id: string, text: string, isBatch = false): { job: typeof job; member: string; batch: boolean } => ({
    job,
    member: memberOf(id, text),
    batch: isBatch,
  });
  // The bridged copy of `started` is stored first (another bot's share), the logged one later.
  await store.append([entry("5-0", started()), entry("9-0", batch(1, 1), true)], 1);
  await store.append([entry("3-0", started()), entry("4-0", epochDone(1, 0.9)), entry("10-0", batch(1, 1), true)], 2);
  await store.append([entry("6-0", epochDone(1, 0.9)), entry("4-0", epochDone(1, 0.9)), entry("7-0", completed())], 3);
  const read = await store.read(job, null);
  assert.equal(read.lifecycleCount, 3);
  return read.members;
}

for (const [name, makeStore] of [
  ["Redis", (): JobStore => new RedisJobStore(live.redis, "first:")],
  ["memory", (): JobStore => new MemoryJobStore()],
] as const) {
  void test(`${name} job store: each text once, at its first log position, in log order`, async () => {
    const members = await storeTwice(makeStore());
    assert.deepEqual(members, [
      memberOf("3-0", started()),
      memberOf("4-0", epochDone(1, 0.9)),
      memberOf("7-0", completed()),
      memberOf("9-0", batch(1, 1)),
    ]);
    assert.deepEqual(members.map(textOf), [started(), epochDone(1, 0.9), completed(), batch(1, 1)]);
  });
}

void test("the Redis job store's text index expires with the job's events", async () => {
  await new RedisJobStore(live.redis, "ttl:").append([{ job, member: memberOf("1-0", started()), batch: false }], 1);
  const ttl = await live.redis.ttl("ttl:texts:7:twice");
  assert.ok(ttl > 0, String(ttl));
});

void describe("open jobs and the memory store", () => {
  void test("open jobs skip keys of the open set that name no job", async () => {
    const store = new RedisJobStore(live.redis, "cov:jobs:");
    const job = { userId: 12n, requestId: "r:1" };
    await store.append([{ job, member: memberOf("1-0", "{}"), batch: false }], Date.now());
    await live.redis.zadd("cov:jobs:open", Date.now() + 1, "not-a-job-key");
    assert.equal(await live.redis.zcard("cov:jobs:open"), 2);
    assert.deepEqual(await store.openJobs(10, Date.now()), [job]);
    assert.equal(parseJobKey("not-a-job-key"), null);
    assert.deepEqual(parseJobKey("12:r:1"), job);
  });

  void test("the memory job store reads an unknown or closed job as empty", async () => {
    const store = new MemoryJobStore();
    const job = { userId: 3n, requestId: "m" };
    assert.deepEqual(await store.read(job, null), { members: [], lifecycleCount: 0, lifecycleRead: 0 });
    await store.append([
      { job, member: memberOf("1-0", "a"), batch: false },
      { job, member: memberOf("2-0", "b"), batch: true },
    ]);
    const read = await store.read(job, null);
    assert.deepEqual([read.members.length, read.lifecycleCount, read.lifecycleRead], [2, 1, 1]);
    const rest = await store.read(job, read.members[0] ?? null);
    assert.deepEqual([rest.members, rest.lifecycleCount, rest.lifecycleRead], [[read.members[1]], 1, 0]);
    await store.close(job);
    assert.deepEqual(await store.read(job, null), { members: [], lifecycleCount: 0, lifecycleRead: 0 });
    assert.deepEqual(await store.openJobs(10), []);
  });
});
