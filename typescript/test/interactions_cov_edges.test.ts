// The interactions parts called in-process, against a real redis-server and the Discord stand-in:
// the limits' bookkeeping, a Cancel that races another or whose clean-up is refused, /train's
// request ids and its clean-up when the stream refuses, the endpoint when a handler or the
// deferred answer fails with something that is not an Error, the Queued message, the command's
// options for any request schema, and how each setting is read.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { Delivery } from "../src/discord/delivery.ts";
import { RestDiscordPort } from "../src/discord/discord_rest.ts";
import { messageKeyFor } from "../src/jobs/job.ts";
import { MemoryMessageStore } from "../src/discord/message_store.ts";
import { RequestScheduler } from "../src/discord/scheduler.ts";
import type { MessageRef } from "../src/discord/discord_port.ts";
import { isActive, releaseActive, reserveActive } from "../src/interactions/active.ts";
import { cancelKey, type InteractionSettings, loadInteractionSettings, TRAIN_DEFAULTS } from "../src/interactions/settings.ts";
import { handleCancel } from "../src/interactions/cancel.ts";
import { commandOptions } from "../src/interactions/command.ts";
import { queuedMessage } from "../src/interactions/queued.ts";
import { InteractionsServer, type UserInteraction } from "../src/interactions/server.ts";
import { handleTrain, type TrainDeps } from "../src/interactions/train.ts";
import type { DigitsTrainV1 } from "../src/generated/contracts.ts";
import { FakeDiscord } from "./fake_discord.ts";
import { msg } from "./fake_port.ts";
import { APPLICATION_ID, contentOf, Logs, OTHER, OWNER, post, Signer, trainInteraction } from "./interactions_support.ts";
import { RedisServer } from "./redis_server.ts";

let redisServer: RedisServer;
let redis: Redis;
let discord: FakeDiscord;
let port: RestDiscordPort;
const signer = new Signer();

function settingsWith(env: Record<string, string> = {}): InteractionSettings {
  const loaded = loadInteractionSettings({ DISCORD_PUBLIC_KEY: signer.publicKeyHex, DISCORD_APPLICATION_ID: APPLICATION_ID, ...env });
  if (loaded.kind !== "on") throw new Error(`settings: ${JSON.stringify(loaded)}`);
  return loaded.settings;
}

before(async () => {
  redisServer = await RedisServer.start();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
  discord = new FakeDiscord();
  port = new RestDiscordPort({ token: "test", apiUrl: await discord.start() });
});

after(async () => {
  redis.disconnect();
  await discord.stop();
  await redisServer.stop();
});

/** A client of the same server as a user who may not run `denied` (ACL); disconnect() it. */
async function restricted(name: string, denied: readonly string[]): Promise<Redis> {
  await redis.call("ACL", "SETUSER", name, "reset", "on", "nopass", "~*", "&*", "+@all", ...denied.map((command) => `-${command}`));
  return new Redis(redisServer.url, { username: name, password: "unused", maxRetriesPerRequest: 1 });
}

/** No job known from its events: only /train's active set counts. */
const notOpen = (): Promise<boolean> => Promise.resolve(false);

function trainDeps(
  client: Redis,
  settings: InteractionSettings,
  extra: Partial<TrainDeps> = {},
): TrainDeps & { refs: Map<string, MessageRef> } {
  const refs = new Map<string, MessageRef>();
  return {
    redis: client,
    settings,
    discord: port,
    channelFor: (userId) => port.openDm(userId),
    messages: {
      set: (key, ref) => {
        refs.set(key, ref);
        return Promise.resolve();
      },
    },
    messageKeyFor: (userId, requestId) => `${userId.toString()}:${requestId}`,
    log: new Logs(),
    now: Date.now,
    isOpen: () => Promise.resolve(false),
    refs,
    ...extra,
  };
}

function command(userId: bigint, options: Record<string, string | number | boolean> = {}): Extract<UserInteraction, { kind: "command" }> {
  return {
    kind: "command",
    name: "train",
    options: new Map(Object.entries(options)),
    id: "1",
    applicationId: APPLICATION_ID,
    token: "t",
    userId,
    guildId: "900",
    channelId: "901",
  };
}

function button(userId: bigint, customId: string): Extract<UserInteraction, { kind: "button" }> {
  return { kind: "button", customId, id: "2", applicationId: APPLICATION_ID, token: "t", userId, guildId: null, channelId: "901" };
}

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

void test("two Cancel presses at once: one records who and asks the intake, the other names who did", async () => {
  await redis.flushall();
  const settings = settingsWith({ DIGITS_ADMIN_USER_IDS: "77" });
  await reserveActive(redis, settings, OWNER, "job", Date.now());
  const deps = { redis, settings, now: Date.now, isOpen: notOpen };
  const customId = `digits:cancel:${OWNER.toString()}:job`;
  const answers = await Promise.all([handleCancel(button(OWNER, customId), deps), handleCancel(button(77n, customId), deps)]);
  const first = answers.indexOf("Cancelling: the job's message will say when it has stopped.");
  assert.notEqual(first, -1, JSON.stringify(answers));
  const winner = first === 0 ? OWNER : 77n;
  assert.equal(answers[1 - first], `This job is already being cancelled (by <@${winner.toString()}>); nothing more to do.`);
  assert.equal(await redis.get(cancelKey(OWNER, "job")), winner.toString());
  const ttl = await redis.ttl(cancelKey(OWNER, "job"));
  assert.ok(ttl > 0 && ttl <= settings.activeJobTtlS, String(ttl));
  assert.equal(await redis.xlen(settings.requestsStream), 1);
});

void test("a Cancel whose request Redis refuses records nothing, even with no clean-up allowed: the next press is taken", async () => {
  await redis.flushall();
  const settings = settingsWith();
  await reserveActive(redis, settings, OWNER, "job", Date.now());
  const client = await restricted("no-xadd-del", ["xadd", "del"]);
  try {
    const customId = `digits:cancel:${OWNER.toString()}:job`;
    await assert.rejects(
      handleCancel(button(OWNER, customId), { redis: client, settings, now: Date.now, isOpen: notOpen }),
      /can't run this command.* on @user_script:4/, // line 4 of the script: its XADD
    );
    assert.equal(await redis.xlen(settings.requestsStream), 0);
    assert.equal(await redis.exists(cancelKey(OWNER, "job")), 0, "the press and its request are one step: neither happened");
    assert.equal(
      await handleCancel(button(OWNER, customId), { redis, settings, now: Date.now, isOpen: notOpen }),
      "Cancelling: the job's message will say when it has stopped.",
    );
    assert.equal(await redis.xlen(settings.requestsStream), 1);
  } finally {
    client.disconnect();
  }
});

void test("/train uses the request id it is given, and the Queued message shows it", async () => {
  await redis.flushall();
  const deps = trainDeps(redis, settingsWith(), { newRequestId: () => "my-request-1" });
  const text = await handleTrain(command(OWNER, { augment: false }), deps);
  assert.equal(
    text,
    "Queued: request `my-request-1` (nothing ahead of it). Its progress appears in the message I just sent you, with a Cancel button.",
  );
  const [[, fields] = ["", []]] = await redis.xrange(deps.settings.requestsStream, "-", "+");
  assert.match(fields[1] ?? "", /^\{"type":"digits\.train\.v1","request_id":"my-request-1",/);
  const ref = deps.refs.get(`${OWNER.toString()}:my-request-1`);
  assert.ok(ref !== undefined);
  assert.match(JSON.stringify(discord.messages.get(ref.messageId)?.embeds), /augment off/);
});

void test("a Queued message whose id was never stored (the bot died) is found again by the run's first create and edited", async () => {
  await redis.flushall();
  const deps = trainDeps(redis, settingsWith(), { newRequestId: () => "lost-ref" });
  await handleTrain(command(OWNER), deps);
  const queued = deps.refs.get(`${OWNER.toString()}:lost-ref`);
  assert.ok(queued !== undefined);
  const before = discord.messages.size;
  // A bot that never stored the id (MemoryMessageStore is empty) shows the job's started state.
  const delivery = new Delivery({ port, store: new MemoryMessageStore(), logger: new Logs(), scheduler: new RequestScheduler({}) });
  delivery.publish(
    messageKeyFor(OWNER, "lost-ref"),
    { kind: "channel", channelId: queued.channelId, userId: OWNER },
    msg("Training started"),
    false,
  );
  await delivery.whenIdle();
  assert.equal(discord.messages.size, before, "no second message");
  assert.equal(discord.titles.get(queued.messageId), "Training started", "the Queued message now shows the job");
});

void test("a Queued message that fails with something other than an Error is logged as it is; the job still goes", async () => {
  await redis.flushall();
  const reason: unknown = "no channel today";
  const deps = trainDeps(redis, settingsWith(), {
    channelFor: () => {
      throw reason;
    },
  });
  assert.match(await handleTrain(command(OWNER), deps), /^Queued: /);
  const logs = deps.log instanceof Logs ? deps.log.lines : [];
  assert.ok(
    logs.some((line) => /^warn interactions: the Queued message of [0-9a-f]{32} could not be shown: no channel today$/.test(line)),
    logs.join("\n"),
  );
  assert.equal(await redis.xlen(deps.settings.requestsStream), 1);
});

void test("when the stream refuses the request and the release fails too, the request's error is the one raised", async () => {
  await redis.flushall();
  const client = await restricted("no-xadd-zrem", ["xadd", "zrem"]);
  try {
    const deps = trainDeps(client, settingsWith(), { newRequestId: () => "r2" });
    await assert.rejects(handleTrain(command(OWNER), deps), /NOPERM.*'xadd'/);
    assert.equal(await redis.exists(deps.settings.requestsStream), 0);
    // Not released: the entry stops counting at its TTL, as for a job whose end is never seen.
    assert.equal(await isActive(redis, OWNER, "r2", Date.now()), true);
    assert.equal(await isActive(redis, OWNER, "r2", Date.now() + deps.settings.activeJobTtlS * 1000), false);
  } finally {
    client.disconnect();
  }
});

void test("a user with closed DMs whose request cannot be withdrawn is told it may run unseen", async () => {
  await redis.flushall();
  discord.dmsClosed.add(OWNER.toString());
  const client = await restricted("no-get", ["get"]); // the cancel script's first command
  try {
    const deps = trainDeps(client, settingsWith(), { newRequestId: () => "unseen" });
    assert.equal(
      await handleTrain(command(OWNER), deps),
      "Not queued: I cannot send you direct messages, where the job's progress would appear. Allow direct messages from this server's members and try again. (Request `unseen` could not be withdrawn: it may run, with no message to show it.)",
    );
    const logs = deps.log instanceof Logs ? deps.log.lines.join("\n") : "";
    assert.match(logs, /the request unseen could not be withdrawn: .*can.t run this command.* on @user_script:2/);
    assert.equal(await redis.xlen(deps.settings.requestsStream), 1, "the request, and no cancel");
    assert.equal(await isActive(redis, OWNER, "unseen", Date.now()), true, "it still counts: it may run");
  } finally {
    discord.dmsClosed.delete(OWNER.toString());
    client.disconnect();
  }
});

void test("a user with closed DMs whose request is withdrawn but whose slot Redis will not free: the refusal, the slot freed by its end", async () => {
  await redis.flushall();
  discord.dmsClosed.add(OWNER.toString());
  const client = await restricted("no-zrem", ["zrem"]); // releaseActive's
  try {
    const deps = trainDeps(client, settingsWith(), { newRequestId: () => "kept" });
    assert.match(await handleTrain(command(OWNER), deps), /^Not queued: I cannot send you direct messages/);
    assert.equal(await redis.xlen(deps.settings.requestsStream), 2, "the request and its cancel");
    // Still counted: the bot frees it when it folds the cancelled job's end (or at its TTL).
    assert.equal(await isActive(redis, OWNER, "kept", Date.now()), true);
  } finally {
    discord.dmsClosed.delete(OWNER.toString());
    client.disconnect();
  }
});

void test("a request the stream refuses fails with the stream's error, before any message is tried", async () => {
  await redis.flushall();
  await redis.set(settingsWith().requestsStream, "not a stream");
  let tried = false;
  const deps = trainDeps(redis, settingsWith(), {
    channelFor: () => {
      tried = true;
      return Promise.reject(new Error("no channel"));
    },
  });
  await assert.rejects(handleTrain(command(OWNER), deps), /WRONGTYPE/);
  assert.equal(tried, false);
});

void test("/train with an option the request does not know names it", async () => {
  await redis.flushall();
  const text = await handleTrain(command(OWNER, { colour: "red" }), trainDeps(redis, settingsWith()));
  assert.equal(text, 'Not queued: options: Unrecognized key: "colour". Change that option and try again.');
  assert.equal(await redis.exists(settingsWith().requestsStream), 0);
});

void test("the Queued message: what was asked, how many are ahead, no button when the id is too long for one", () => {
  const request: DigitsTrainV1 = { type: "digits.train.v1", request_id: "r", user_id: OWNER, ...TRAIN_DEFAULTS, notes: null };
  const one = queuedMessage(request, 1);
  assert.equal(
    one.embed?.description,
    "1 job ahead of it (queued or running)\nEpochs 5 · batch 64 · lr 0.01 · seed 0 · augment on\nRequest r",
  );
  assert.equal(one.components?.length, 1);
  const off = queuedMessage({ ...request, augment: false, notes: "try *this*" }, 3);
  assert.equal(
    off.embed?.description,
    "3 jobs ahead of it (queued or running)\nEpochs 5 · batch 64 · lr 0.01 · seed 0 · augment off\nRequest r\nNotes: try \\*this\\*",
  );
  const long = queuedMessage({ ...request, request_id: "x".repeat(90) }, 0);
  assert.equal(long.components, undefined);
  assert.match(long.embed?.description ?? "", /^Next in line\n/);
  assert.equal(long.nonce, `q${"x".repeat(24)}`);
});

void test("the command's options follow any request schema; a field no option can take is refused by name", () => {
  const options = commandOptions({
    properties: {
      type: { type: "string" },
      label: { type: "string", minLength: 2, maxLength: 40, description: "A label." },
      tag: { anyOf: [{ type: "null" }, { type: "string", maxLength: 9000 }] },
      count: { anyOf: [{ type: "integer" }, { type: "null" }], minimum: 1, description: "x".repeat(200) },
    },
  });
  assert.deepEqual(options, [
    { name: "label", description: "A label", required: false, type: 3, min_length: 2, max_length: 40 },
    { name: "tag", description: "", required: false, type: 3, max_length: 6000 },
    { name: "count", description: `${"x".repeat(99)}…`, required: false, type: 4, min_value: 1 },
  ]);
  assert.throws(
    () => commandOptions({ properties: { sizes: { type: "array", items: { type: "integer" } } } }),
    /^Error: digits\.train\.v1 field sizes has type array, which \/train cannot offer$/,
  );
  assert.throws(() => commandOptions({ properties: { odd: { anyOf: [{ type: "null" }] } } }), /field odd has type undefined/);
});

void test("the endpoint: a handler or a deferred answer failing with a non-Error is logged as it is", async () => {
  const logs = new Logs();
  const handlerReason: unknown = "handler gave up";
  const replyReason: unknown = "Discord gave up";
  let release = (): void => undefined;
  const slow = new Promise<void>((resolve) => (release = resolve));
  const edits: string[] = [];
  const server = new InteractionsServer(
    { publicKeyHex: signer.publicKeyHex, host: "127.0.0.1", port: 0, maxAgeS: 300, deferAfterMs: 100 },
    async (interaction) => {
      if (interaction.kind === "button") throw handlerReason;
      await slow;
      return "done late";
    },
    {
      editOriginal: async (_applicationId, _token, content) => {
        edits.push(content);
        await Promise.resolve();
        throw replyReason;
      },
    },
    logs,
  );
  const address = await server.start();
  assert.equal(address.address, "127.0.0.1");
  assert.ok(address.port > 0);
  const endpoint = { url: `http://127.0.0.1:${address.port}/interactions?from=discord`, signer };
  try {
    const buttonBody = { type: 3, id: "2", application_id: APPLICATION_ID, token: "b", user: { id: "5" }, data: { custom_id: "x" } };
    assert.equal(
      contentOf(await post(endpoint, buttonBody)),
      "Something went wrong on our side; nothing was changed. Try again in a minute.",
    );
    assert.ok(logs.lines.includes("warn interactions: button failed: handler gave up"), logs.lines.join("\n"));
    const deferred = await post(endpoint, trainInteraction(OWNER));
    assert.deepEqual(deferred, { status: 200, body: { type: 5, data: { flags: 64 } } });
    release();
  } finally {
    await server.stop(); // waits for the late answer
  }
  assert.deepEqual(edits, ["done late"]);
  assert.ok(logs.lines.includes("warn interactions: could not send the deferred answer: Discord gave up"), logs.lines.join("\n"));
});

void test("settings: each number and id list is checked, the first problem is the one reported, the rest are read", () => {
  const key = "ab".repeat(32);
  const base = { DISCORD_PUBLIC_KEY: key, DISCORD_APPLICATION_ID: "1" };
  const cases: [Record<string, string>, string][] = [
    [
      { DIGITS_INTERACTIONS_PORT: "70000" },
      'DIGITS_INTERACTIONS_PORT must be a whole number from 0 to 65535, got "70000"; unset it for 8787',
    ],
    [
      { DIGITS_INTERACTION_MAX_AGE_S: "1.5" },
      'DIGITS_INTERACTION_MAX_AGE_S must be a whole number from 1 to 3600, got "1.5"; unset it for 300',
    ],
    [{ DIGITS_MAX_JOBS_TOTAL: "lots" }, 'DIGITS_MAX_JOBS_TOTAL must be a whole number from 1 to 100000, got "lots"; unset it for 20'],
    [{ DIGITS_ACTIVE_JOB_TTL_S: "59" }, 'DIGITS_ACTIVE_JOB_TTL_S must be a whole number from 60 to 2592000, got "59"; unset it for 21600'],
    [
      { DIGITS_ALLOWED_CHANNEL_IDS: "5,#general" },
      'DIGITS_ALLOWED_CHANNEL_IDS must be comma-separated Discord ids (digits), got "#general"',
    ],
    // Several problems: the one read first.
    [
      { DIGITS_MAX_JOBS_PER_USER: "0", DIGITS_ALLOWED_GUILD_IDS: "x" },
      'DIGITS_MAX_JOBS_PER_USER must be a whole number from 1 to 1000, got "0"; unset it for 2',
    ],
    [
      { DISCORD_PUBLIC_KEY: "00", DISCORD_APPLICATION_ID: "app", DIGITS_INTERACTIONS_PORT: "-1" },
      "DISCORD_PUBLIC_KEY must be the 64 hex digits of the application's public key (Developer Portal, General Information)",
    ],
    [
      { DISCORD_APPLICATION_ID: "app", DIGITS_INTERACTIONS_PORT: "-1" },
      `DISCORD_APPLICATION_ID must be the application's id (digits) when DISCORD_PUBLIC_KEY is set, got "app"`,
    ],
  ];
  for (const [env, message] of cases) assert.deepEqual(loadInteractionSettings({ ...base, ...env }), { kind: "error", message });
  assert.deepEqual(loadInteractionSettings({ DISCORD_PUBLIC_KEY: "  " }), { kind: "off" });
  const on = loadInteractionSettings({
    ...base,
    DIGITS_INTERACTIONS_HOST: " 0.0.0.0 ",
    DIGITS_INTERACTIONS_PORT: "0",
    DIGITS_REQUESTS_STREAM: "my:requests",
    DIGITS_ACTIVE_JOB_TTL_S: "60",
    DIGITS_ALLOWED_GUILD_IDS: "900",
    DIGITS_ALLOWED_CHANNEL_IDS: "901, 902",
  });
  assert.ok(on.kind === "on");
  assert.equal(on.settings.host, "0.0.0.0");
  assert.equal(on.settings.port, 0);
  assert.equal(on.settings.requestsStream, "my:requests");
  assert.equal(on.settings.activeJobTtlS, 60);
  assert.deepEqual([...on.settings.allowedGuildIds], ["900"]);
  assert.deepEqual([...on.settings.allowedChannelIds], ["901", "902"]);
  assert.equal(on.settings.applicationId, "1");
});
