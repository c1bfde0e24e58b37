// The Redis-facing parts against a real redis-server: keys in the open set that name no job, a
// message key that names no user, a handler failing with something that is not an Error, the
// XAUTOCLAIM reply shapes; and the in-memory stores and the dry-run printer (the invalid-entry log:
// test/invalid_log.test.ts).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ButtonStyle, ComponentType } from "discord-api-types/v10";
import { Redis } from "ioredis";
import { ConsoleDiscordPort } from "../src/discord/console_port.ts";
import { MemoryJobStore, RedisJobStore, memberOf, parseJobKey } from "../src/jobs/job_store.ts";
import { silentLogger, type Logger } from "../src/shared/log.ts";
import { RedisMessageStore } from "../src/discord/message_store.ts";
import { commandClient, waitForRedis } from "../src/app/redis_clients.ts";
import { StreamReader, claimReply, type LogEntry } from "../src/events/stream_reader.ts";
import { RedisServer } from "./redis_server.ts";

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

/** A promise rejected with `value`, whatever it is. */
function thrownLater(value: unknown): Promise<never> {
  return Promise.resolve().then(() => {
    throw value;
  });
}

function recorder(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, logger: { info: (line) => lines.push(`info ${line}`), warn: (line) => lines.push(`warn ${line}`) } };
}

void test("open jobs skip keys of the open set that name no job", async () => {
  const store = new RedisJobStore(redis, "cov:jobs:");
  const job = { userId: 12n, requestId: "r:1" };
  await store.append([{ job, member: memberOf("1-0", "{}"), batch: false }], Date.now());
  await redis.zadd("cov:jobs:open", Date.now() + 1, "not-a-job-key");
  assert.equal(await redis.zcard("cov:jobs:open"), 2);
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

void test("a message key that names no user is stored without one and never read back", async () => {
  const store = new RedisMessageStore(redis, "cov:msg:");
  await store.set("no-user", { channelId: "c", messageId: "m" });
  assert.deepEqual(JSON.parse((await redis.get("cov:msg:message:no-user")) ?? "null"), { channel_id: "c", message_id: "m", user_id: "" });
  assert.equal(await store.get("no-user"), null);
  await store.set("5:job", { channelId: "c", messageId: "m" });
  assert.deepEqual(await store.get("5:job"), { channelId: "c", messageId: "m" });
});

void test("a handler failing with something that is not an Error is logged, and the entry is read again", async () => {
  const { logger, lines } = recorder();
  const stream = "cov:log";
  await redis.xadd(stream, "*", "event", "first");
  const handled: string[] = [];
  let calls = 0;
  let reader: StreamReader | null = null;
  reader = new StreamReader({
    redis,
    stream,
    group: "g",
    consumer: "c",
    claimIdleMs: 60_000,
    logger,
    handle: (entries: readonly LogEntry[]) => {
      calls += 1;
      // A failure that is not an Error object (thrown from deep inside some library).
      const oddFailure: unknown = new Map([["reason", "not an Error"]]);
      if (calls === 1) return thrownLater(oddFailure);
      handled.push(...entries.map((entry) => entry.event?.toString() ?? ""));
      reader?.stop();
      return Promise.resolve();
    },
  });
  await reader.ensureGroup("0");
  await reader.run();
  assert.deepEqual(handled, ["first"]);
  assert.match(lines.join("\n"), /warn reading the event log failed \(1 in a row\): \[object Map\]; retrying in 200 ms/);
  const pending: unknown = await redis.xpending(stream, "g");
  assert.equal(Array.isArray(pending) ? pending[0] : null, 0, "acknowledged once handled");
});

void test("XAUTOCLAIM replies: a cursor and entries, or nothing usable", () => {
  const b = (text: string): Buffer => Buffer.from(text);
  const claimed = claimReply([b("7-0"), [[b("5-0"), [b("event"), b("e")]]], []]);
  assert.deepEqual([claimed.cursor, claimed.entries.map((entry) => [entry.id, entry.event?.toString()])], ["7-0", [["5-0", "e"]]]);
  assert.deepEqual(claimReply([b("0-0"), []]), { cursor: "0-0", entries: [] });
  assert.deepEqual(claimReply(null), { cursor: "0-0", entries: [] });
  assert.deepEqual(claimReply(["7-0", "x"]), { cursor: "0-0", entries: [] });
});

void test("waiting for Redis reports each failure by its text, an Error's or not", async () => {
  /** A client whose connect fails with something that is not an Error, then with an Error. */
  class OddRedis extends Redis {
    attempts = 0;
    override connect(): Promise<void> {
      this.attempts += 1;
      return this.attempts === 1 ? thrownLater(new Map([["code", "ECONNREFUSED"]])) : thrownLater(new Error("connect ECONNREFUSED"));
    }
  }
  const odd = new OddRedis(server.url, { lazyConnect: true });
  const { logger, lines } = recorder();
  const up = await waitForRedis(odd, "redis://user:secret@10.0.0.1:6379", logger, () => odd.attempts >= 2);
  assert.equal(up, false);
  assert.deepEqual(lines, [
    "warn waiting for Redis at redis://user:***@10.0.0.1:6379 ([object Map]); retrying in 500 ms",
    "warn waiting for Redis at redis://user:***@10.0.0.1:6379 (connect ECONNREFUSED); retrying in 1000 ms",
  ]);
  odd.disconnect();
});

void test("the dry run prints buttons by their label, and components without one (emoji buttons, menus) as [?]", async () => {
  let out = "";
  const port = new ConsoleDiscordPort((text) => (out += text));
  await port.editMessage(
    { channelId: "c", messageId: "m" },
    {
      content: "x",
      components: [
        {
          type: ComponentType.ActionRow,
          components: [
            { type: ComponentType.Button, style: ButtonStyle.Danger, custom_id: "cancel", label: "Cancel" },
            { type: ComponentType.Button, style: ButtonStyle.Secondary, custom_id: "icon", emoji: { name: "x" } },
            { type: ComponentType.StringSelect, custom_id: "pick", options: [] },
          ],
        },
      ],
    },
  );
  assert.equal(out, "--- edit m in c\nx\n[Cancel] [?] [?]\n");
});
