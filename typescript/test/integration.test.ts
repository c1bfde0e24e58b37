// The bot end to end: real Redis (its own server) in, a local fake of Discord's REST API out.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Redis } from "ioredis";
import { Bot } from "../src/bot.ts";
import { Delivery } from "../src/delivery.ts";
import { RestDiscordPort } from "../src/discord_rest.ts";
import { silentLogger } from "../src/log.ts";
import { messageKey, RedisMessageStore } from "../src/message_store.ts";
import { commandClient, subscribe, type Subscription } from "../src/subscriber.ts";
import { FakeDiscord } from "./fake_discord.ts";
import { batch, BIG_USER_ID, completed, epochDone, failed, started } from "./fixtures.ts";
import { RedisServer } from "./redis_server.ts";

const INTERVAL_MS = 100;
const TOKEN = "test-token";

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
  readonly bot: Bot;
  readonly delivery: Delivery;
  readonly subscription: Subscription;
  readonly channel: string;
  stop(): Promise<void>;
}

async function startBot(channel: string, notifyChannelId: string | null = null): Promise<Running> {
  const commands = commandClient(redis.url, silentLogger);
  const delivery = new Delivery({
    port: new RestDiscordPort({ token: TOKEN, apiUrl }),
    store: new RedisMessageStore(commands),
    logger: silentLogger,
    editIntervalMs: INTERVAL_MS,
    notifyAtEnd: false, // the end notification has its own tests (discord_http.test.ts)
  });
  const bot = new Bot({ delivery, logger: silentLogger, notifyChannelId });
  const subscription = await subscribe(redis.url, channel, (payload) => {
    bot.handle(payload);
  }, silentLogger);
  const stop = async (): Promise<void> => {
    await subscription.close();
    commands.disconnect();
  };
  cleanups.push(stop);
  return { bot, delivery, subscription, channel, stop };
}

function reqId(name: string): Record<string, string> {
  return { request_id: name };
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
  for (const text of events) await publisher.publish(running.channel, text);
  await waitFor("the completed message", () => [...discord.titles.values()].some((title) => title.startsWith("Training completed")));
  await running.delivery.whenIdle();

  const dm = discord.requests.filter((request) => request.path === "/users/@me/channels");
  assert.equal(dm.length, 1);
  assert.ok(dm[0]?.body.includes(`"recipient_id":"${BIG_USER_ID}"`), dm[0]?.body);
  assert.equal(dm[0]?.authorization, `Bot ${TOKEN}`);

  const messages = discord.messageRequests();
  const creates = messages.filter((request) => request.method === "POST");
  assert.equal(creates.length, 1, "one message per job");
  assert.equal(creates[0]?.path, `/channels/dm${BIG_USER_ID}/messages`);
  assert.ok(messages.length < events.length, `intermediate states are coalesced (${messages.length} requests)`);
  for (const request of messages) assert.ok(request.body.includes('"allowed_mentions":{"parse":[]}'), request.body);
  const edits = messages.filter((request) => request.method === "PATCH");
  for (let index = 1; index < edits.length; index += 1) {
    const gap = (edits[index]?.at ?? 0) - (edits[index - 1]?.at ?? 0);
    const last = index === edits.length - 1;
    if (!last) assert.ok(gap >= INTERVAL_MS - 5, `edits ${gap} ms apart`);
  }

  const stored = await publisher.get(messageKey("dm-job"));
  assert.equal(stored, JSON.stringify({ channel_id: `dm${BIG_USER_ID}`, message_id: "msg1" }));
  assert.ok((await publisher.ttl(messageKey("dm-job"))) > 0, "the message id expires");
  assert.equal(running.bot.stats.invalid, 0);
  await running.stop();
});

void test("notify channel mode posts in that channel, without opening a DM", async () => {
  const before = discord.requests.length;
  const running = await startBot("it:channel", "123456789012345678");
  await publisher.publish(running.channel, failed("user", "epochs: 0 is less than the minimum of 1", reqId("chan-job")));
  await waitFor("the failure message", () => discord.requests.length > before);
  await running.delivery.whenIdle();
  const mine = discord.requests.slice(before);
  assert.deepEqual(mine.map((request) => `${request.method} ${request.path}`), ["POST /channels/123456789012345678/messages"]);
  await running.stop();
});

void test("429: the bot waits retry_after and then sends the newest state", async () => {
  const running = await startBot("it:429");
  const id = reqId("limited-job");
  await publisher.publish(running.channel, started(id));
  await waitFor("the first message", () => discord.requests.some((request) => request.body.includes("limited")));
  await running.delivery.whenIdle();
  const before = discord.requests.length;
  discord.rateLimit = { count: 1, retryAfterS: 0.4 };
  await publisher.publish(running.channel, batch(1, 1, id));
  await waitFor("the 429", () => discord.requests.length > before);
  const limitedAt = discord.requests[before]?.at ?? 0;
  await publisher.publish(running.channel, batch(1, 2, id));
  await publisher.publish(running.channel, completed(0.9, id));
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
  await publisher.publish(running.channel, started(id));
  await waitFor("the first message", () => discord.requests.some((request) => request.body.includes("deleted")));
  await running.delivery.whenIdle();
  const storedId = async (): Promise<string> => {
    const stored: unknown = JSON.parse((await publisher.get(messageKey("deleted-job"))) ?? "{}");
    return typeof stored === "object" && stored !== null && "message_id" in stored ? String(stored.message_id) : "";
  };
  const firstId = await storedId();
  discord.deleted.add(firstId);
  const before = discord.requests.length;
  await publisher.publish(running.channel, batch(1, 5, id));
  await waitFor("a replacement", async () => (await storedId()) !== firstId);
  await running.delivery.whenIdle();
  assert.deepEqual(
    discord.requests.slice(before).map((request) => request.method),
    ["PATCH", "POST"],
    "the 404 edit is followed by a new message",
  );
  const secondId = await storedId();
  await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 2));
  await publisher.publish(running.channel, completed(0.9, id));
  await waitFor("completion", () => discord.requests.at(-1)?.body.includes("Training completed") === true);
  const last = discord.requests.at(-1);
  assert.equal(last?.method, "PATCH");
  assert.equal(last.path.split("/").at(-1), secondId, "edits go to the new message");
  await running.stop();
});

void test("a restarted bot keeps editing the same message", async () => {
  const id = reqId("restart-job");
  const first = await startBot("it:restart");
  await publisher.publish(first.channel, started(id));
  await waitFor("the first message", () => discord.requests.some((request) => request.body.includes("restart")));
  await first.delivery.whenIdle();
  await first.stop();
  const creates = discord.requests.filter((request) => request.method === "POST" && request.path.endsWith("/messages")).length;

  const second = await startBot("it:restart");
  await publisher.publish(second.channel, batch(1, 50, id));
  await waitFor("the edit", () => second.bot.stats.updates === 1);
  await second.delivery.whenIdle();
  assert.equal(discord.requests.filter((request) => request.method === "POST" && request.path.endsWith("/messages")).length, creates);
  assert.equal(discord.requests.at(-1)?.method, "PATCH");
  await second.stop();
});

void test("garbage on the channel is counted and the loop goes on", async () => {
  const running = await startBot("it:garbage");
  const junk = ["", "not json", "{}", '{"type":"digits.train.started.v1"}', "\u0000\u0001", "x".repeat(100_000), Buffer.from([0xff, 0xfe, 0xfd])];
  for (const item of junk) await publisher.publish(running.channel, item);
  await publisher.publish(running.channel, started(reqId("after-garbage")));
  await waitFor("the valid event after the garbage", () => running.bot.stats.updates === 1);
  assert.equal(running.bot.stats.invalid, junk.length);
  assert.equal(running.bot.stats.errors, 0);
  await running.delivery.whenIdle();
  await running.stop();
});

void test("the subscriber reconnects and resubscribes after Redis restarts", async () => {
  const running = await startBot("it:reconnect");
  await redis.stop();
  await redis.launch();
  publisher.disconnect();
  publisher = commandClient(redis.url, silentLogger);
  const id = reqId("reconnect-job");
  // Publish until the resubscribed bot hears it (PUBLISH answers how many subscribers got it).
  await waitFor("resubscription", async () => (await publisher.publish(running.channel, started(id))) > 0, 15_000);
  await waitFor("the event", () => running.bot.stats.updates >= 1);
  await running.delivery.whenIdle();
  await running.stop();
});
