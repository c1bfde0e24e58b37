// The bot end to end in one process: real Redis (its own server) and its event log in, a local
// fake of Discord's REST API out. Several bots can run at once against the same Redis.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Redis } from "ioredis";
import { BOT_KEY_PREFIX } from "../../src/app/config.ts";
import { Coordinator } from "../../src/relay/coordinator.ts";
import { Delivery } from "../../src/discord/delivery.ts";
import { RestDiscordPort } from "../../src/discord/discord_rest.ts";
import { RedisJobStore } from "../../src/jobs/job_store.ts";
import { messageKeyFor } from "../../src/jobs/job.ts";
import { type Logger, silentLogger } from "../../src/shared/log.ts";
import { RedisMessageStore } from "../../src/discord/message_store.ts";
import { StreamReader } from "../../src/events/stream_reader.ts";
import { commandClient, readerClient } from "../../src/app/redis_clients.ts";
import { FakeDiscord } from "../support/fake_discord.ts";
import { batch, BIG_USER_ID, completed, epochDone, failed, started } from "../support/fixtures.ts";
import { RedisServer } from "../support/redis_server.ts";

const INTERVAL_MS = 100;

const TOKEN = "test-token";

const GROUP = "it-bots";

const PREFIX = `${BOT_KEY_PREFIX}${GROUP}:`;

let redis: RedisServer;

let discord: FakeDiscord;

let apiUrl: string;

let publisher: Redis;

const cleanups: (() => Promise<void> | void)[] = [];

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Running {
  readonly coordinator: Coordinator;
  readonly delivery: Delivery;
  readonly stream: string;
  /** Stops as on SIGTERM: reading, flush, leases given up. */
  stop(): Promise<void>;
  /** Stops as on SIGKILL: nothing flushed, leases and pending entries left behind. */
  kill(): void;
}

interface BotOptions {
  readonly notifyChannelId?: string | null;
  readonly consumer?: string;
  readonly leaseMs?: number;
  readonly claimIdleMs?: number;
  readonly logger?: Logger;
  readonly silentAfterS?: number;
}

async function startBot(stream: string, options: BotOptions = {}): Promise<Running> {
  const commands = commandClient(redis.url, silentLogger);
  const readerRedis = readerClient(redis.url, silentLogger);
  let coordinator: Coordinator | null = null;
  const logger = options.logger ?? silentLogger;
  const delivery = new Delivery({
    port: new RestDiscordPort({ token: TOKEN, apiUrl }),
    store: new RedisMessageStore(commands, PREFIX),
    logger,
    editIntervalMs: INTERVAL_MS,
    notifyAtEnd: false, // the end notification has its own tests (discord_http.test.ts)
    fallbackChannelId: options.notifyChannelId ?? null,
    onFinished: (key) => coordinator?.finished(key),
  });
  const consumer = options.consumer ?? `bot-${stream}`;
  const core = new Coordinator({
    store: new RedisJobStore(commands, PREFIX),
    delivery,
    logger,
    owner: consumer,
    leaseMs: options.leaseMs ?? 2000,
    silentAfterS: options.silentAfterS ?? 120,
  });
  coordinator = core;
  const reader = new StreamReader({
    redis: readerRedis,
    stream,
    group: GROUP,
    consumer,
    claimIdleMs: options.claimIdleMs ?? 1000,
    logger,
    handle: (entries) => core.handle(entries),
  });
  await commands.connect();
  await readerRedis.connect();
  await reader.ensureGroup();
  core.start();
  const reading = reader.run();
  let stopped = false;
  const kill = (): void => {
    if (stopped) return;
    stopped = true;
    reader.stop();
    core.stop();
    readerRedis.disconnect();
    commands.disconnect();
  };
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    reader.stop();
    await reading;
    core.stop();
    await delivery.flush(5000);
    await core.releaseAll();
    readerRedis.disconnect();
    commands.disconnect();
  };
  cleanups.push(stop);
  return { coordinator: core, delivery, stream, stop, kill };
}

async function append(stream: string, ...texts: (string | Buffer)[]): Promise<void> {
  for (const text of texts) await publisher.xadd(stream, "*", "event", text);
}

function reqId(name: string): Record<string, string> {
  return { request_id: name };
}

function storedKey(requestId: string, run = 0): string {
  return `${PREFIX}message:${messageKeyFor(BigInt(BIG_USER_ID), requestId, run)}`;
}

/**
 * Messages that exist on the stand-in. Not POSTs: a create retried with its nonce (a bot killed
 * between Discord's answer and storing the message id) is answered with the earlier message.
 */
function creates(): number {
  return discord.messages.size;
}

before(async () => {
  redis = await RedisServer.start();
  discord = new FakeDiscord();
  apiUrl = await discord.start();
  publisher = commandClient(redis.url, silentLogger);
});

after(async () => {
  for (const cleanup of cleanups) await cleanup();
  publisher.disconnect();
  await discord.stop();
  await redis.stop();
});

void test("a job becomes one DM message, edited in place, with the exact user id and no mentions", async () => {
  const running = await startBot("it:dm");
  const id = reqId("dm-job");
  const events = [started(id), batch(1, 10, id), batch(1, 20, id), batch(1, 30, id), epochDone(1, 0.97, id), completed(0.97, id)];
  await append(running.stream, ...events);
  await waitFor("the completed message", () => [...discord.titles.values()].some((title) => title.startsWith("Training completed")));
  await running.delivery.whenIdle();

  const dm = discord.requests.filter((request) => request.path === "/users/@me/channels");
  assert.equal(dm.length, 1);
  assert.ok(dm[0]?.body.includes(`"recipient_id":"${BIG_USER_ID}"`), dm[0]?.body);
  assert.equal(dm[0]?.authorization, `Bot ${TOKEN}`);

  const messages = discord.messageRequests();
  const posts = messages.filter((request) => request.method === "POST");
  assert.equal(posts.length, 1, "one message per job");
  assert.equal(posts[0]?.path, `/channels/dm${BIG_USER_ID}/messages`);
  assert.ok(messages.length < events.length, `intermediate states are coalesced (${messages.length} requests)`);
  for (const request of messages) assert.ok(request.body.includes('"allowed_mentions":{"parse":[]}'), request.body);
  const edits = messages.filter((request) => request.method === "PATCH");
  for (let index = 1; index < edits.length - 1; index += 1) {
    const gap = (edits[index]?.at ?? 0) - (edits[index - 1]?.at ?? 0);
    assert.ok(gap >= INTERVAL_MS - 5, `edits ${gap} ms apart`);
  }

  const stored = await publisher.get(storedKey("dm-job"));
  assert.equal(stored, JSON.stringify({ channel_id: `dm${BIG_USER_ID}`, message_id: "msg1", user_id: BIG_USER_ID }));
  assert.ok((await publisher.ttl(storedKey("dm-job"))) > 0, "the message id expires");
  assert.equal(running.coordinator.stats.invalid, 0);
  await waitFor("the job to close", async () => (await publisher.zcard(`${PREFIX}open`)) === 0);
  // Closing the job and giving its lease up are two writes: under load a check between them saw the lease.
  await waitFor(
    "a finished job's lease to be given up",
    async () => (await publisher.exists(`${PREFIX}lease:${BIG_USER_ID}:dm-job`)) === 0,
  );
  const pending = await publisher.xpending(running.stream, GROUP);
  assert.equal(Array.isArray(pending) ? pending[0] : -1, 0, "every entry is acknowledged");
  await running.stop();
});

void test("with a notify channel set, a job goes to the user's DM first; closed DMs move it to the channel, mentioning the user", async () => {
  const before = discord.requests.length;
  const running = await startBot("it:channel", { notifyChannelId: "123456789012345678" });
  await append(running.stream, failed("user", "epochs: 0 is less than the minimum of 1", reqId("dm-first")));
  await waitFor("the DM", () => discord.requests.slice(before).some((request) => request.path.endsWith("/messages")));
  await running.delivery.whenIdle();
  assert.deepEqual(
    discord.requests.slice(before).map((request) => `${request.method} ${request.path.replace(/[0-9]+/, "N")}`),
    ["POST /users/@me/channels", "POST /channels/dmN/messages"],
    "a DM, not the channel",
  );
  const closed = discord.requests.length;
  discord.dmsClosed.add("7");
  await append(running.stream, eventTextFor("7", "closed"));
  await waitFor("the channel message", () => discord.requests.slice(closed).some((request) => request.path.startsWith("/channels/1234")));
  await running.delivery.whenIdle();
  const posted = [...discord.messages.values()].filter((message) => message.channelId === "123456789012345678");
  assert.equal(posted.length, 1);
  assert.match(posted[0]?.content ?? "", /^<@7> /, "the first message there mentions the user");
  assert.deepEqual(posted[0]?.allowedMentions, { parse: [], users: ["7"] });
  discord.dmsClosed.delete("7");
  await running.stop();
});

void test("two users with the same request id get two messages; neither edits the other's", async () => {
  const running = await startBot("it:users");
  const before = creates();
  await append(running.stream, failed("user", "bad request of user 1", { request_id: "same" }), eventTextFor("2", "same"));
  await waitFor("two messages", () => creates() === before + 2);
  await running.delivery.whenIdle();
  const paths = discord.requests
    .filter((request) => request.method === "POST" && request.path.endsWith("/messages"))
    .slice(-2)
    .map((request) => request.path);
  assert.deepEqual(new Set(paths), new Set([`/channels/dm${BIG_USER_ID}/messages`, "/channels/dm2/messages"]));
  await running.stop();
});

function eventTextFor(userId: string, requestId: string): string {
  return failed("user", `bad request of user ${userId}`, { request_id: requestId }).replace(
    `"user_id":${BIG_USER_ID}`,
    `"user_id":${userId}`,
  );
}

void test("a second run of the same request (a requeue) gets its own message", async () => {
  const running = await startBot("it:runs");
  const before = creates();
  await append(
    running.stream,
    started({ request_id: "twice", run_id: "run-a" }),
    failed("system", "worker lost", { request_id: "twice", run_id: "run-a" }),
  );
  await waitFor("the first run's message", () => creates() === before + 1);
  await append(
    running.stream,
    started({ request_id: "twice", run_id: "run-b" }),
    completed(0.99, { request_id: "twice", run_id: "run-b" }),
  );
  await waitFor("the second run's message", () => creates() === before + 2);
  await running.delivery.whenIdle();
  assert.notEqual(await publisher.get(storedKey("twice", 1)), null);
  const titles = [...discord.titles.values()].slice(-2);
  assert.ok(titles[0]?.startsWith("Training failed") && titles[1]?.startsWith("Training completed"), titles.join(" | "));
  await running.stop();
});

void test("429: the bot waits retry_after and then sends the newest state", async () => {
  const running = await startBot("it:429");
  const id = reqId("limited-job");
  await append(running.stream, started(id));
  await waitFor("the first message", () => discord.requests.some((request) => request.body.includes("limited")));
  await running.delivery.whenIdle();
  const before = discord.requests.length;
  discord.rateLimit = { count: 1, retryAfterS: 0.4 };
  await append(running.stream, batch(1, 1, id));
  await waitFor("the 429", () => discord.requests.length > before);
  const limitedAt = discord.requests[before]?.at ?? 0;
  await append(running.stream, batch(1, 2, id), completed(0.9, id));
  await waitFor("the retry", () => discord.requests.length > before + 1);
  await running.delivery.whenIdle();
  const retries = discord.requests.slice(before + 1);
  assert.equal(retries.length, 1, "only the newest state is sent after the wait");
  assert.ok((retries[0]?.at ?? 0) - limitedAt >= 380, `retried after ${(retries[0]?.at ?? 0) - limitedAt} ms`);
  assert.match(retries[0]?.body ?? "", /Training completed/);
  await running.stop();
});

void test("a deleted message is replaced by a new one and editing goes on there", async () => {
  const running = await startBot("it:404");
  const id = reqId("deleted-job");
  await append(running.stream, started(id));
  await waitFor("the first message", () => discord.requests.some((request) => request.body.includes("deleted")));
  await running.delivery.whenIdle();
  const storedId = async (): Promise<string> => {
    const stored: unknown = JSON.parse((await publisher.get(storedKey("deleted-job"))) ?? "{}");
    return typeof stored === "object" && stored !== null && "message_id" in stored ? String(stored.message_id) : "";
  };
  const firstId = await storedId();
  discord.deleted.add(firstId);
  const before = discord.requests.length;
  await append(running.stream, batch(1, 5, id));
  await waitFor("a replacement", async () => (await storedId()) !== firstId);
  await running.delivery.whenIdle();
  assert.deepEqual(
    discord.requests.slice(before).map((request) => request.method),
    ["PATCH", "POST"],
    "the 404 edit is followed by a new message",
  );
  const secondId = await storedId();
  await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 2));
  await append(running.stream, completed(0.9, id));
  await waitFor("completion", () => discord.requests.at(-1)?.body.includes("Training completed") === true);
  const last = discord.requests.at(-1);
  assert.equal(last?.method, "PATCH");
  assert.equal(last.path.split("/").at(-1), secondId, "edits go to the new message");
  await running.stop();
});

void test("a bot stopped mid-job and started after the job ended shows the final state, every epoch line, in the same message", async () => {
  const id = reqId("restart-job");
  const first = await startBot("it:restart");
  await append(first.stream, started(id), epochDone(1, 0.91, id));
  await waitFor("the first message", () => discord.requests.some((request) => request.body.includes("restart")));
  await first.delivery.whenIdle();
  await first.stop();
  const before = creates();
  // While no bot runs, the job goes on and ends.
  await append(first.stream, epochDone(2, 0.95, id), epochDone(3, 0.97, id), completed(0.97, id));
  const second = await startBot("it:restart");
  await waitFor("the final state", () => discord.requests.at(-1)?.body.includes("Training completed") === true, 5000);
  await second.delivery.whenIdle();
  assert.equal(creates(), before, "no new message");
  const last = discord.requests.at(-1);
  assert.equal(last?.method, "PATCH");
  for (const line of ["Epoch 1: val_acc 91.00%", "Epoch 2: val_acc 95.00%", "Epoch 3: val_acc 97.00%"])
    assert.ok(last.body.includes(line), `${line} in ${last.body}`);
  await second.stop();
});

void test("entries delivered twice change nothing", async () => {
  const running = await startBot("it:twice");
  const id = reqId("dup-job");
  await append(running.stream, started(id), completed(0.9, id));
  await waitFor(
    "the final state",
    () =>
      [...discord.titles.values()].some((title) => title.includes("completed")) && discord.requests.at(-1)?.body.includes("dup") === true,
  );
  await running.delivery.whenIdle();
  await waitFor("the job to close", async () => (await publisher.zcard(`${PREFIX}open`)) === 0);
  const before = discord.requests.length;
  const entries = await publisher.xrangeBuffer(running.stream, "-", "+");
  await running.coordinator.handle(entries.map(([entryId, fields]) => ({ id: entryId.toString(), event: fields[1] ?? null })));
  await running.coordinator.tick();
  await running.delivery.whenIdle();
  assert.equal(discord.requests.length, before, "a redelivered entry sends nothing");
  await running.stop();
});

void test("two bots share the jobs; when one dies the other finishes its jobs; one message each", async () => {
  const stream = "it:two";
  const warnings: string[] = [];
  const logger: Logger = { info: () => undefined, warn: (line) => warnings.push(line) };
  const a = await startBot(stream, { consumer: "bot-a", leaseMs: 1000, claimIdleMs: 600, logger });
  const b = await startBot(stream, { consumer: "bot-b", leaseMs: 1000, claimIdleMs: 600, logger });
  const before = creates();
  const jobs = ["twoA", "twoB", "twoC"];
  for (const job of jobs) await append(stream, started(reqId(job)));
  for (let n = 1; n <= 20; n += 1) for (const job of jobs) await append(stream, batch(1, n, reqId(job)));
  await waitFor("three messages", () => creates() === before + 3);
  assert.ok(a.coordinator.ownedJobs + b.coordinator.ownedJobs === 3, `${a.coordinator.ownedJobs} + ${b.coordinator.ownedJobs} jobs owned`);
  const victim = a.coordinator.ownedJobs > 0 ? a : b;
  const survivor = victim === a ? b : a;
  victim.kill();
  for (const job of jobs) await append(stream, epochDone(1, 0.9, reqId(job)), completed(0.9, reqId(job)));
  await waitFor(
    "three final states",
    () =>
      jobs.every((job) =>
        discord.requests.some(
          (request) => request.method === "PATCH" && request.body.includes(job) && request.body.includes("Training completed"),
        ),
      ),
    10_000,
  ).catch((error: unknown) => {
    throw new Error(
      `${String(error)}; warnings: ${warnings.join(" | ")}; bodies: ${discord.requests
        .slice(-6)
        .map((request) => request.body.slice(0, 200))
        .join(" | ")}`,
    );
  });
  await survivor.delivery.whenIdle();
  assert.equal(creates(), before + 3, "no message doubled");
  // Per message, edits keep the interval (the last, terminal one may come sooner).
  const byMessage = new Map<string, number[]>();
  for (const request of discord.requests) {
    if (request.method !== "PATCH" || !jobs.some((job) => request.body.includes(job))) continue;
    byMessage.set(request.path, [...(byMessage.get(request.path) ?? []), request.at]);
  }
  for (const [path, times] of byMessage) {
    for (let index = 1; index < times.length - 1; index += 1) {
      const gap = (times[index] ?? 0) - (times[index - 1] ?? 0);
      assert.ok(gap >= INTERVAL_MS - 5, `${path}: edits ${gap} ms apart`);
    }
  }
  await survivor.stop();
});

void test("entries a dead bot read but never acknowledged are claimed by another", async () => {
  const stream = "it:claim";
  // A bot that read the job's entries and died before storing them.
  await publisher.xgroup("CREATE", stream, GROUP, "$", "MKSTREAM");
  await append(stream, started(reqId("claimed-job")), completed(0.9, reqId("claimed-job")));
  const stolen = await publisher.xreadgroup("GROUP", GROUP, "dead-bot", "COUNT", 10, "STREAMS", stream, ">");
  assert.ok(stolen !== null && stolen.length === 1, "the dead bot took the entries");
  const running = await startBot(stream, { claimIdleMs: 300 });
  await waitFor(
    "the claimed job's final state",
    () => discord.requests.some((request) => request.body.includes("claimed") && request.body.includes("Training completed")),
    8000,
  );
  await running.stop();
});

void test("invalid entries are counted; only the first few are logged in full", async () => {
  const warnings: string[] = [];
  const running = await startBot("it:garbage", { logger: { info: () => undefined, warn: (line) => warnings.push(line) } });
  const junk = [
    "",
    "not json",
    "{}",
    '{"type":"digits.train.started.v1"}',
    "\u0000\u0001",
    "x".repeat(100_000),
    Buffer.from([0xff, 0xfe, 0xfd]),
  ];
  for (let round = 0; round < 10; round += 1) await append(running.stream, ...junk);
  await publisher.xadd(running.stream, "*", "other", "field");
  await append(running.stream, started(reqId("after-garbage")));
  await waitFor("the valid event after the garbage", () => running.coordinator.stats.updates === 1);
  assert.equal(running.coordinator.stats.invalid, junk.length * 10 + 1);
  assert.equal(running.coordinator.stats.errors, 0);
  const invalidLines = warnings.filter((line) => line.startsWith("invalid event #"));
  assert.equal(invalidLines.length, 5, warnings.join("\n"));
  running.coordinator.invalid.flush();
  assert.match(warnings.at(-1) ?? "", /invalid events since the last report: .*\(71 in all\)/);
  await running.delivery.whenIdle();
  await running.stop();
});

void test("a running job silent past the threshold says since when", async () => {
  const running = await startBot("it:silent", { silentAfterS: 1 });
  await append(running.stream, started(reqId("silent-job")));
  await waitFor(
    "the silence note",
    () =>
      discord.requests.some(
        (request) => request.body.includes("Request silent") && request.body.includes("No news from the worker since <t:"),
      ),
    8000,
  );
  await running.stop();
});

void test("the reader goes on after Redis restarts", async () => {
  const running = await startBot("it:reconnect");
  await redis.stop();
  await redis.launch();
  publisher.disconnect();
  publisher = commandClient(redis.url, silentLogger);
  await append(running.stream, started(reqId("reconnect-job")));
  await waitFor("the event", () => running.coordinator.stats.updates >= 1, 15_000);
  await running.delivery.whenIdle();
  await running.stop();
});

void test("entries whose storing failed are read again at once and acknowledged only when stored", async () => {
  const stream = "it:retry-store";
  const redisReader = readerClient(redis.url, silentLogger);
  const seen: string[] = [];
  let failures = 1;
  const reader = new StreamReader({
    redis: redisReader,
    stream,
    group: GROUP,
    consumer: "retrying",
    claimIdleMs: 60_000, // not by claiming: by re-reading its own pending entries
    logger: silentLogger,
    handle: (entries) => {
      seen.push(...entries.map((entry) => entry.id));
      if (failures > 0) {
        failures -= 1;
        return Promise.reject(new Error("Redis went away"));
      }
      return Promise.resolve();
    },
  });
  await reader.ensureGroup();
  const running = reader.run();
  const id = await publisher.xadd(stream, "*", "event", started(reqId("retried")));
  await waitFor("the entry handled twice", () => seen.length === 2, 5000);
  assert.deepEqual(seen, [id, id]);
  await waitFor("the entry acknowledged", async () => {
    const pending = await publisher.xpending(stream, GROUP);
    return Array.isArray(pending) && pending[0] === 0;
  });
  reader.stop();
  await running;
  redisReader.disconnect();
});

void test("a stored message id is used only when it is well formed and names the key's user", async () => {
  const store = new RedisMessageStore(publisher, PREFIX, 60);
  const key = messageKeyFor(42n, "owned");
  await store.set(key, { channelId: "c1", messageId: "m1" });
  assert.deepEqual(await store.get(key), { channelId: "c1", messageId: "m1" });
  assert.match((await publisher.get(store.redisKey(key))) ?? "", /"user_id":"42"/);
  const ttl = await publisher.ttl(store.redisKey(key));
  assert.ok(ttl > 0 && ttl <= 60, `expires (${ttl} s)`);
  // Another user's message under this key (a bug, or someone writing to Redis) is never edited.
  await publisher.set(store.redisKey(key), JSON.stringify({ channel_id: "c2", message_id: "m2", user_id: "43" }));
  assert.equal(await store.get(key), null);
  await publisher.set(store.redisKey(key), "not json");
  assert.equal(await store.get(key), null);
  await publisher.set(store.redisKey(key), JSON.stringify({ channel_id: "", message_id: "m2", user_id: "42" }));
  assert.equal(await store.get(key), null);
  assert.equal(await store.get(messageKeyFor(42n, "never-stored")), null);
});

void test("consumers left by earlier runs, idle and with nothing pending, are removed; others stay", async () => {
  const stream = "it:prune";
  const reader = new StreamReader({
    redis: publisher,
    stream,
    group: GROUP,
    consumer: "me",
    claimIdleMs: 60_000,
    logger: silentLogger,
    handle: () => Promise.resolve(),
  });
  await reader.ensureGroup();
  await publisher.xgroup("CREATECONSUMER", stream, GROUP, "me");
  await publisher.xgroup("CREATECONSUMER", stream, GROUP, "old-bot");
  await publisher.xgroup("CREATECONSUMER", stream, GROUP, "busy-bot");
  await append(stream, started(reqId("pending")));
  await publisher.xreadgroup("GROUP", GROUP, "busy-bot", "COUNT", 1, "STREAMS", stream, ">");
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.deepEqual(await reader.pruneConsumers(10_000), [], "none idle long enough");
  assert.deepEqual(await reader.pruneConsumers(10), ["old-bot"]);
  const reply: unknown = await publisher.xinfo("CONSUMERS", stream, GROUP);
  const names = (Array.isArray(reply) ? reply : []).map((item: unknown) => (Array.isArray(item) ? String(item[1]) : ""));
  assert.deepEqual(names.sort(), ["busy-bot", "me"]);
});
