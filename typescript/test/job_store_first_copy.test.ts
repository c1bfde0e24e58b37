// An event that reaches the log twice (its producer logged it and a bot bridged it from the
// channel, as a worker of an earlier release and a bridging bot do during a rollout) is stored
// once per job, as the copy first in the log, in both job stores; a job's stored text is then
// folded once.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Redis } from "ioredis";
import { MemoryJobStore, RedisJobStore, memberOf, textOf, type JobStore } from "../src/jobs/job_store.ts";
import { silentLogger } from "../src/shared/log.ts";
import { commandClient } from "../src/app/redis_clients.ts";
import { batch, completed, epochDone, started } from "./fixtures.ts";
import { RedisServer } from "./redis_server.ts";

let server: RedisServer;
let redis: Redis;

before(async () => {
  server = await RedisServer.start();
  redis = commandClient(server.url, silentLogger);
});
after(async () => {
  redis.disconnect();
  await server.stop();
});

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
  ["Redis", (): JobStore => new RedisJobStore(redis, "first:")],
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
  await new RedisJobStore(redis, "ttl:").append([{ job, member: memberOf("1-0", started()), batch: false }], 1);
  const ttl = await redis.ttl("ttl:texts:7:twice");
  assert.ok(ttl > 0, String(ttl));
});
