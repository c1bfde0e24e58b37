// Delivery through the real REST client against the Discord stand-in, which enforces the limits
// it models (global limit, 30046, 50007, nonce, 401/403, multipart).

import assert from "node:assert/strict";
import { test } from "node:test";
import { Delivery, type Target } from "../../src/discord/delivery.ts";
import { type DeliveryError, showsSent } from "../../src/discord/discord_port.ts";
import { RestDiscordPort } from "../../src/discord/discord_rest.ts";
import type { Logger } from "../../src/shared/log.ts";
import { MemoryMessageStore } from "../../src/discord/message_store.ts";
import { RequestScheduler } from "../../src/discord/scheduler.ts";
import { FakeDiscord } from "../support/fake_discord.ts";
import { servedDuringTests } from "../support/served_discord.ts";
import { msg } from "../support/fake_port.ts";

const TOKEN = "test-token";

const USER = 9223372036854763462n;

const discord = new FakeDiscord();

const served = servedDuringTests(discord);

function reset(): void {
  discord.requests.length = 0;
  discord.maxEditAgeMs = null;
  discord.dmsClosed.clear();
  discord.forbiddenChannels.clear();
  discord.token = null;
  discord.globalPerSecond = 50;
  discord.limitHits = 0;
}

interface Harness {
  delivery: Delivery;
  store: MemoryMessageStore;
  warnings: string[];
  fatal: DeliveryError[];
}

function harness(
  options: { notifyAtEnd?: boolean; fallbackChannelId?: string; maxRps?: number; token?: string; timeoutMs?: number } = {},
): Harness {
  const store = new MemoryMessageStore();
  const warnings: string[] = [];
  const fatal: DeliveryError[] = [];
  const logger: Logger = { info: () => undefined, warn: (line) => warnings.push(line) };
  const delivery = new Delivery({
    port: new RestDiscordPort({
      token: options.token ?? TOKEN,
      apiUrl: served.apiUrl,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    }),
    store,
    logger,
    editIntervalMs: 50,
    scheduler: new RequestScheduler({ maxRps: options.maxRps ?? 50, channelBurst: 100 }),
    notifyAtEnd: options.notifyAtEnd ?? false,
    fallbackChannelId: options.fallbackChannelId ?? null,
    onFatal: (error) => fatal.push(error),
  });
  return { delivery, store, warnings, fatal };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

void test("the end notification replies to the live message and may ping only the requester", async () => {
  reset();
  const { delivery } = harness({ notifyAtEnd: true });
  delivery.publish("r", { kind: "dm", userId: USER }, msg("Training"), false);
  delivery.publish("r", { kind: "dm", userId: USER }, msg("Training failed"), true);
  await delivery.whenIdle();
  const creates = discord.messageRequests().filter((request) => request.method === "POST");
  assert.equal(creates.length, 2);
  const note: unknown = JSON.parse(creates[1]?.body ?? "{}");
  const nonce = /"nonce":"([^"]+)"/.exec(creates[1]?.body ?? "")?.[1];
  const live = [...discord.messages.values()].find((message) => message.replyTo === undefined);
  assert.deepEqual(note, {
    content: `<@${USER.toString()}> Training failed: see the message above.`,
    allowed_mentions: { parse: [], users: [USER.toString()] },
    message_reference: { message_id: live?.id, fail_if_not_exists: false },
    nonce,
    enforce_nonce: true,
  });
  assert.match(creates[1]?.body ?? "", /"users":\["9223372036854763462"\]/, "the id goes out exactly");
});

void test("an edit refused with 30046 continues in a new message replying to the old; nothing is lost", async () => {
  reset();
  discord.maxEditAgeMs = 150;
  const { delivery, store } = harness();
  const target: Target = { kind: "channel", channelId: "42", userId: USER };
  delivery.publish("old", target, msg("s1"), false);
  await delivery.whenIdle();
  const first = store.refs.get("old")?.messageId;
  await sleep(200);
  delivery.publish("old", target, msg("s2"), false);
  await delivery.whenIdle();
  const second = store.refs.get("old")?.messageId;
  assert.notEqual(second, first);
  const continued = discord.messages.get(second ?? "");
  assert.equal(continued?.title, "s2");
  assert.equal(continued.replyTo, first);
  delivery.publish("old", target, msg("done"), true);
  await delivery.whenIdle();
  assert.equal(discord.titles.get(second ?? ""), "done");
});

void test("closed DMs: the fallback channel mentions the user; without one, the job stops after one try", async () => {
  reset();
  discord.dmsClosed.add(USER.toString());
  const withFallback = harness({ fallbackChannelId: "900" });
  withFallback.delivery.publish("a", { kind: "dm", userId: USER }, msg("a1"), true);
  await withFallback.delivery.whenIdle();
  const posted = [...discord.messages.values()].filter((message) => message.channelId === "900");
  assert.equal(posted.length, 1);
  assert.equal(posted[0]?.title, "a1");
  assert.match(posted[0].content ?? "", new RegExp(`<@${USER.toString()}>`));
  assert.deepEqual(posted[0].allowedMentions, { parse: [], users: [USER.toString()] });

  discord.requests.length = 0;
  const without = harness();
  without.delivery.publish("b", { kind: "dm", userId: USER }, msg("b1"), false);
  await without.delivery.whenIdle();
  without.delivery.publish("b", { kind: "dm", userId: USER }, msg("b2"), true);
  await without.delivery.whenIdle();
  assert.equal(discord.messageRequests().length, 1, "one refused create, nothing after");
  assert.equal(without.warnings.filter((line) => line.includes("50007")).length, 1);
});

void test("a create whose answer is lost is not posted twice (nonce + enforce_nonce)", async () => {
  reset();
  discord.failNext = { count: 1, status: 500, delayMs: 0 };
  const { delivery, store } = harness();
  delivery.publish("lost", { kind: "channel", channelId: "43" }, msg("s1"), false);
  await delivery.whenIdle();
  const creates = discord.messageRequests().filter((request) => request.method === "POST");
  assert.ok(creates.length >= 2, `the client tried again: ${JSON.stringify(discord.requests.map((r) => [r.method, r.path, r.status]))}`);
  assert.equal([...discord.messages.values()].filter((message) => message.channelId === "43").length, 1);
  assert.equal(store.refs.get("lost")?.messageId, [...discord.messages.values()].find((message) => message.channelId === "43")?.id);
});

void test("a create with a nonce Discord already saw answers the earlier message as it stands", async () => {
  reset();
  const port = new RestDiscordPort({ token: TOKEN, apiUrl: served.apiUrl });
  const first = await port.createMessage("47", { embed: { title: "started" }, nonce: "n-47" });
  const again = await port.createMessage("47", { embed: { title: "completed" }, nonce: "n-47" });
  assert.equal(again.id, first.id);
  assert.equal(again.shown?.embeds[0]?.title, "started");
  assert.equal(showsSent({ embed: { title: "started" } }, again), true);
  assert.equal(showsSent({ embed: { title: "completed" } }, again), false);
  const plain = await port.createMessage("47", { content: "no embed" });
  assert.deepEqual(plain.shown, { content: "no embed", embeds: [] });
});

void test("a 429 without Retry-After is not retried in a tight loop", async () => {
  reset();
  discord.rateLimit = { count: 2, retryAfterS: 0, header: false };
  const { delivery } = harness();
  delivery.publish("limited", { kind: "channel", channelId: "44" }, msg("s1"), true);
  await delivery.whenIdle();
  const times = discord.messageRequests().map((request) => request.at);
  assert.equal(times.length, 3);
  assert.ok(
    (times[1] ?? 0) - (times[0] ?? 0) >= 950 && (times[2] ?? 0) - (times[1] ?? 0) >= 1950,
    `waits 1 s then 2 s: ${times.join(", ")}`,
  );
});

void test("401 is fatal once; 403 on a channel stops that job only", async () => {
  reset();
  discord.forbiddenChannels.add("45");
  const ok = harness();
  ok.delivery.publish("a", { kind: "channel", channelId: "45" }, msg("a1"), false);
  ok.delivery.publish("b", { kind: "channel", channelId: "46" }, msg("b1"), true);
  await ok.delivery.whenIdle();
  assert.equal(discord.titles.size > 0, true);
  assert.equal(discord.messageRequests().filter((request) => request.path.startsWith("/channels/45")).length, 1);
  assert.equal(ok.warnings.length, 1);
  discord.token = TOKEN;
  const bad = harness({ token: "wrong" });
  bad.delivery.publish("c", { kind: "channel", channelId: "47" }, msg("c1"), false);
  bad.delivery.publish("d", { kind: "channel", channelId: "48" }, msg("d1"), false);
  await bad.delivery.whenIdle();
  assert.equal(bad.fatal.length, 1);
});

void test("the chart goes up as multipart chart.png when its key changes, not on other edits", async () => {
  reset();
  const { delivery, store } = harness();
  const target: Target = { kind: "channel", channelId: "49" };
  for (const [title, key] of [
    ["s1", "k1"],
    ["s2", "k1"],
    ["s3", "k2"],
  ] as const) {
    delivery.publish("chart", target, msg(title, key), false);
    await delivery.whenIdle();
    await sleep(60);
  }
  const sent = discord.messageRequests();
  assert.deepEqual(
    sent.map((request) => request.files.map((file) => `${file.field} ${file.name}`)),
    [["files[0] chart.png"], [], ["files[0] chart.png"]],
  );
  for (const request of sent) assert.match(request.body, /"url":"attachment:\/\/chart.png"/);
  const stored = discord.messages.get(store.refs.get("chart")?.messageId ?? "");
  assert.deepEqual(
    stored?.uploads.map((bytes) => new TextDecoder().decode(bytes)),
    ["png k1", "png k2"],
  );
});

void test("200 concurrent jobs: no 429 from the stand-in and every final state delivered", async () => {
  reset();
  const rps = 100;
  discord.globalPerSecond = rps;
  const { delivery, store } = harness({ maxRps: rps, notifyAtEnd: true });
  const jobs = Array.from({ length: 200 }, (_, i) => i);
  for (const step of [1, 2, 3]) {
    for (const i of jobs) delivery.publish(`job-${i}`, { kind: "dm", userId: BigInt(1000 + i) }, msg(`job-${i} step ${step}`), false);
    await sleep(100);
  }
  for (const i of jobs) delivery.publish(`job-${i}`, { kind: "dm", userId: BigInt(1000 + i) }, msg(`job-${i} done`), true);
  await delivery.whenIdle();
  assert.equal(discord.tooManyRequests(), 0);
  for (const i of jobs) {
    const ref = store.refs.get(`job-${i}`);
    assert.equal(discord.titles.get(ref?.messageId ?? ""), `job-${i} done`);
  }
  const notes = [...discord.messages.values()].filter((message) => message.replyTo !== undefined && message.channelId.startsWith("dm1"));
  assert.equal(notes.length, 200);
});
