// The message store against a real redis-server: which Discord message shows which job run.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { silentLogger } from "../../src/shared/log.ts";
import { RedisMessageStore } from "../../src/discord/message_store.ts";
import { commandClient } from "../../src/app/redis_clients.ts";
import { RedisServer } from "../support/redis_server.ts";

let server: RedisServer;

let redis: Redis;

before(async () => {
  server = await RedisServer.start();
  redis = commandClient(server.url, silentLogger);
  await redis.connect();
});

after(async () => {
  redis.disconnect();
  await server.stop();
});

void test("a message key that names no user is stored without one and never read back", async () => {
  const store = new RedisMessageStore(redis, "cov:msg:");
  await store.set("no-user", { channelId: "c", messageId: "m" });
  assert.deepEqual(JSON.parse((await redis.get("cov:msg:message:no-user")) ?? "null"), { channel_id: "c", message_id: "m", user_id: "" });
  assert.equal(await store.get("no-user"), null);
  await store.set("5:job", { channelId: "c", messageId: "m" });
  assert.deepEqual(await store.get("5:job"), { channelId: "c", messageId: "m" });
});
