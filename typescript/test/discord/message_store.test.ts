// The message store against a real redis-server: which Discord message shows which job run.

import assert from "node:assert/strict";
import { test } from "node:test";
import { RedisMessageStore } from "../../src/discord/message_store.ts";
import { liveRedis } from "../support/live_redis.ts";

const live = liveRedis();

void test("a message key that names no user is stored without one and never read back", async () => {
  const store = new RedisMessageStore(live.redis, "cov:msg:");
  await store.set("no-user", { channelId: "c", messageId: "m" });
  assert.deepEqual(JSON.parse((await live.redis.get("cov:msg:message:no-user")) ?? "null"), {
    channel_id: "c",
    message_id: "m",
    user_id: "",
  });
  assert.equal(await store.get("no-user"), null);
  await store.set("5:job", { channelId: "c", messageId: "m" });
  assert.deepEqual(await store.get("5:job"), { channelId: "c", messageId: "m" });
});
