// /train through the real endpoint: the request it puts on the stream (and that the Python intake
// accepts), the Queued message with its Cancel button, refusals naming the field, the limits.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { decodeTrainRequest } from "../../src/events/decode.ts";
import { releaseActive } from "../../src/interactions/index.ts";
import { cancelKey, type InteractionSettings, TRAIN_DEFAULTS } from "../../src/interactions/settings.ts";
import { handleTrain, requestFromOptions, type TrainDeps } from "../../src/interactions/train.ts";
import {
  APPLICATION_ID,
  contentOf,
  type Endpoint,
  interactionsClient,
  Logs,
  OTHER,
  OWNER,
  post,
  restrictedClient,
  settingsFor,
  Signer,
  startEndpoint,
  trainInteraction,
} from "../support/interactions_support.ts";
import { Redis } from "ioredis";
import { Delivery } from "../../src/discord/delivery.ts";
import { RestDiscordPort } from "../../src/discord/discord_rest.ts";
import { messageKeyFor } from "../../src/jobs/job.ts";
import { MemoryMessageStore } from "../../src/discord/message_store.ts";
import { RequestScheduler } from "../../src/discord/scheduler.ts";
import type { MessageRef } from "../../src/discord/discord_port.ts";
import { isActive } from "../../src/interactions/active.ts";
import { type UserInteraction } from "../../src/interactions/server.ts";
import { FakeDiscord } from "../support/fake_discord.ts";
import { msg } from "../support/fake_port.ts";
import { liveRedis } from "../support/live_redis.ts";

const REPO = resolve(import.meta.dirname, "..", "..", "..");

const PYTHON = resolve(REPO, ".venv", "bin", "python");

let endpoint: Endpoint;

before(async () => {
  endpoint = await startEndpoint({ DIGITS_MAX_JOBS_TOTAL: "4" });
});

after(async () => {
  await endpoint.stop();
});

async function entries(): Promise<[string, string][]> {
  const reply = await endpoint.redis.xrange(endpoint.settings.requestsStream, "-", "+");
  return reply.map(([, fields]) => [fields[0] ?? "", fields[1] ?? ""]);
}

async function clear(): Promise<void> {
  await endpoint.redis.flushall();
  endpoint.messages.clear();
}

void test("a valid /train queues one digits.train.v1 request and shows its Queued message with a Cancel button", async () => {
  await clear();
  const text = contentOf(await post(endpoint, trainInteraction(OWNER, { epochs: 1, lr: 0.5, notes: "first *try*" })));
  const requestId = /^Queued: request `([0-9a-f]{32})` \(nothing ahead of it\)/.exec(text)?.[1];
  assert.ok(requestId !== undefined, text);
  const [[field, json] = ["", ""]] = await entries();
  assert.equal(field, "request");
  assert.match(json, new RegExp(`"user_id":${OWNER.toString()}[,}]`)); // every digit, no quotes
  const decoded = decodeTrainRequest(json);
  assert.deepEqual(decoded, {
    kind: "ok",
    request: {
      type: "digits.train.v1",
      request_id: requestId,
      user_id: OWNER,
      ...TRAIN_DEFAULTS,
      epochs: 1,
      lr: 0.5,
      notes: "first *try*",
    },
  });
  const ref = endpoint.messages.get(`${OWNER.toString()}:${requestId}`);
  assert.ok(ref !== undefined);
  const message = endpoint.discord.messages.get(ref.messageId);
  assert.equal(ref.channelId, `dm${OWNER.toString()}`);
  assert.equal(message?.title, "Queued · digits");
  assert.deepEqual(message.components, [
    { type: 1, components: [{ type: 2, style: 4, label: "Cancel", custom_id: `digits:cancel:${OWNER.toString()}:${requestId}` }] },
  ]);
});

void test("invalid options are refused naming the field and the rule; nothing is queued or sent", async () => {
  await clear();
  const sent = endpoint.discord.messageRequests().length;
  const cases: [Record<string, string | number | boolean>, RegExp][] = [
    [{ epochs: 0 }, /^Not queued: epochs: Too small: expected number to be >=1\. Change that option and try again\.$/],
    [
      { lr: 2, batch_size: 4096 },
      /^Not queued: batch_size: Too big: expected number to be <=2048; lr: Too big: expected number to be <=1\. Change those options/,
    ],
    [{ model_id: "../etc" }, /^Not queued: model_id: Invalid string: must match pattern/],
    [{ notes: "x".repeat(501) }, /^Not queued: notes: Too big: expected string to have <=500 characters/],
  ];
  for (const [options, expected] of cases) assert.match(contentOf(await post(endpoint, trainInteraction(OWNER, options))), expected);
  assert.deepEqual(await entries(), []);
  assert.equal(endpoint.discord.messageRequests().length, sent);
  assert.equal(await endpoint.redis.exists(`digits:active:user:${OWNER.toString()}`), 0);
});

void test("a user may have DIGITS_MAX_JOBS_PER_USER jobs at once, the whole queue DIGITS_MAX_JOBS_TOTAL", async () => {
  await clear();
  const ids: string[] = [];
  for (let n = 0; n < 2; n++) {
    const text = contentOf(await post(endpoint, trainInteraction(OWNER)));
    ids.push(/`([0-9a-f]{32})`/.exec(text)?.[1] ?? "");
  }
  const refused = contentOf(await post(endpoint, trainInteraction(OWNER)));
  assert.equal(refused, "Not queued: you already have 2 jobs queued or running (at most 2). Wait for one to end, or cancel one.");
  assert.equal((await entries()).length, 2);
  await releaseActive(endpoint.redis, OWNER, ids[0] ?? ""); // its terminal event was folded
  assert.match(contentOf(await post(endpoint, trainInteraction(OWNER))), /^Queued: request `[0-9a-f]{32}` \(1 ahead of it\)/);
  assert.match(contentOf(await post(endpoint, trainInteraction(OTHER))), /^Queued: .*\(2 ahead of it\)/);
  assert.match(contentOf(await post(endpoint, trainInteraction(OTHER))), /^Queued: .*\(3 ahead of it\)/);
  const full = contentOf(await post(endpoint, trainInteraction(99n)));
  assert.equal(full, "Not queued: the queue is full (4 jobs queued or running, at most 4). Try again later.");
});

void test("a job whose end is never seen stops counting after DIGITS_ACTIVE_JOB_TTL_S", async () => {
  let clock = Date.now();
  const short = await startEndpoint({ DIGITS_MAX_JOBS_PER_USER: "1", DIGITS_ACTIVE_JOB_TTL_S: "60" }, {}, () => clock);
  try {
    assert.match(contentOf(await post(short, trainInteraction(OWNER))), /^Queued: /);
    assert.match(contentOf(await post(short, trainInteraction(OWNER))), /^Not queued: you already have 1 jobs/);
    const ttl = await short.redis.ttl(`digits:active:user:${OWNER.toString()}`);
    assert.ok(ttl > 0 && ttl <= 60, String(ttl)); // the keys go too
    clock += 61_000; // its worker crashed and nobody ever saw its end
    assert.match(contentOf(await post(short, trainInteraction(OWNER))), /^Queued: .*\(nothing ahead of it\)/);
  } finally {
    await short.stop();
  }
});

void test("a user whose DMs are closed is told how to fix it, and the request is withdrawn in their name", async () => {
  await clear();
  endpoint.discord.dmsClosed.add(OTHER.toString());
  try {
    const text = contentOf(await post(endpoint, trainInteraction(OTHER)));
    assert.match(text, /^Not queued: I cannot send you direct messages.*Allow direct messages/);
    // Appended before the message was tried, then cancelled: the intake finds the cancel and queues nothing.
    const [[requestField, request] = ["", ""], [cancelField, cancel] = ["", ""], ...rest] = await entries();
    assert.equal(requestField, "request");
    const requestId = /"request_id":"([0-9a-f]{32})"/.exec(request)?.[1] ?? "";
    assert.equal(cancelField, "cancel");
    assert.equal(cancel, `{"request_id":"${requestId}","user_id":${OTHER.toString()},"by":${OTHER.toString()}}`);
    assert.deepEqual(rest, []);
    assert.equal(await endpoint.redis.get(cancelKey(OTHER, requestId)), OTHER.toString());
    assert.equal(await endpoint.redis.zcard(`digits:active:user:${OTHER.toString()}`), 0);
  } finally {
    endpoint.discord.dmsClosed.delete(OTHER.toString());
  }
});

void test("with a notify channel, a user whose DMs are closed gets the Queued message there, mentioning them", async () => {
  const withChannel = await startEndpoint({ DIGITS_NOTIFY_CHANNEL_ID: "555" });
  withChannel.discord.dmsClosed.add(OTHER.toString());
  try {
    assert.match(contentOf(await post(withChannel, trainInteraction(OTHER))), /^Queued: /);
    const posted = [...withChannel.discord.messages.values()];
    assert.deepEqual(
      posted.map((message) => message.channelId),
      ["555"],
    );
    assert.match(posted[0]?.content ?? "", new RegExp(`^<@${OTHER.toString()}> `));
    assert.deepEqual(posted[0]?.allowedMentions, { parse: [], users: [OTHER.toString()] });
  } finally {
    await withChannel.stop();
  }
});

void test("a Queued message Discord fails to take does not stop the job", async () => {
  await clear();
  endpoint.discord.forbiddenChannels.add(`dm${OWNER.toString()}`);
  const text = contentOf(await post(endpoint, trainInteraction(OWNER)));
  endpoint.discord.forbiddenChannels.clear();
  assert.match(text, /^Queued: /);
  assert.equal((await entries()).length, 1);
  assert.ok(endpoint.logs.lines.some((line) => line.includes("could not be shown")));
});

void test("when the stream cannot take the request the job does not count, nothing is shown, and the user is told", async () => {
  await clear();
  await endpoint.redis.set(endpoint.settings.requestsStream, "not a stream");
  const sent = endpoint.discord.messageRequests().length;
  assert.match(contentOf(await post(endpoint, trainInteraction(OWNER))), /^Something went wrong on our side; nothing was changed/);
  assert.equal(await endpoint.redis.zcard(`digits:active:user:${OWNER.toString()}`), 0);
  assert.equal(endpoint.discord.messageRequests().length, sent, "no Queued message: the request comes first");
  await endpoint.redis.del(endpoint.settings.requestsStream);
});

void test("allow-lists of guilds and channels", async () => {
  const limited = await startEndpoint({ DIGITS_ALLOWED_GUILD_IDS: "900", DIGITS_ALLOWED_CHANNEL_IDS: "901" });
  try {
    const refusal = "Training cannot be started from here. Ask an admin where /train is allowed.";
    assert.equal(contentOf(await post(limited, trainInteraction(OWNER, {}, "999"))), refusal);
    assert.equal(contentOf(await post(limited, trainInteraction(OWNER, {}, null))), refusal); // a DM
    assert.equal(contentOf(await post(limited, trainInteraction(OWNER, {}, "900", "902"))), refusal);
    assert.match(contentOf(await post(limited, trainInteraction(OWNER, {}, "900", "901"))), /^Queued: /);
  } finally {
    await limited.stop();
  }
});

void test("/train's defaults are the CLI's", () => {
  const code =
    "import json; from handwriting_worker.commands.request_options import DEFAULTS, AUGMENT_DEFAULT as A; print(json.dumps({**DEFAULTS, 'augment': A}))";
  const result = spawnSync(PYTHON, ["-c", code], { encoding: "utf8", timeout: 60_000 });
  assert.equal(result.status, 0, result.stderr);
  const python: unknown = JSON.parse(result.stdout);
  assert.deepEqual(python, { ...TRAIN_DEFAULTS });
  assert.deepEqual(requestFromOptions(new Map(), 5n, "r"), {
    type: "digits.train.v1",
    request_id: "r",
    user_id: 5n,
    ...TRAIN_DEFAULTS,
    notes: null,
  });
});

void test("the request the bot writes is queued by the Python intake as the job named after it", async () => {
  await clear();
  const text = contentOf(await post(endpoint, trainInteraction(OWNER, { seed: 4294967295 })));
  const requestId = /`([0-9a-f]{32})`/.exec(text)?.[1] ?? "";
  const queue = "digits-interactions-test";
  const redisUrl = `redis://127.0.0.1:${String(endpoint.redis.options.port ?? 0)}/0`;
  const intake = spawn(PYTHON, ["-m", "handwriting_worker", "intake"], {
    cwd: REPO,
    env: { ...process.env, REDIS_URL: redisUrl, RQ__QUEUE: queue },
    stdio: "ignore",
  });
  try {
    const deadline = Date.now() + 60_000;
    let jobs: string[] = [];
    while (jobs.length === 0 && Date.now() < deadline) {
      jobs = await endpoint.redis.lrange(`rq:queue:${queue}`, 0, -1);
      await new Promise((r) => setTimeout(r, 100));
    }
    const idCode = `from handwriting_worker.rq.requests_keys import job_id_for; print(job_id_for(${OWNER.toString()}, "${requestId}"))`;
    const expected = spawnSync(PYTHON, ["-c", idCode], { encoding: "utf8", timeout: 60_000 }).stdout.trim();
    assert.deepEqual(jobs, [expected]);
  } finally {
    intake.kill("SIGTERM");
    await new Promise((r) => intake.once("exit", r));
  }
});

void describe("handleTrain called in-process", () => {
  const live = liveRedis(interactionsClient);

  let discord: FakeDiscord;

  let port: RestDiscordPort;

  const signer = new Signer();

  before(async () => {
    discord = new FakeDiscord();
    port = new RestDiscordPort({ token: "test", apiUrl: await discord.start() });
  });

  after(async () => {
    await discord.stop();
  });

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

  void test("/train uses the request id it is given, and the Queued message shows it", async () => {
    await live.redis.flushall();
    const deps = trainDeps(live.redis, settingsFor(signer), { newRequestId: () => "my-request-1" });
    const text = await handleTrain(command(OWNER, { augment: false }), deps);
    assert.equal(
      text,
      "Queued: request `my-request-1` (nothing ahead of it). Its progress appears in the message I just sent you, with a Cancel button.",
    );
    const [[, fields] = ["", []]] = await live.redis.xrange(deps.settings.requestsStream, "-", "+");
    assert.match(fields[1] ?? "", /^\{"type":"digits\.train\.v1","request_id":"my-request-1",/);
    const ref = deps.refs.get(`${OWNER.toString()}:my-request-1`);
    assert.ok(ref !== undefined);
    assert.match(JSON.stringify(discord.messages.get(ref.messageId)?.embeds), /augment off/);
  });

  void test("a Queued message whose id was never stored (the bot died) is found again by the run's first create and edited", async () => {
    await live.redis.flushall();
    const deps = trainDeps(live.redis, settingsFor(signer), { newRequestId: () => "lost-ref" });
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
    await live.redis.flushall();
    const reason: unknown = "no channel today";
    const deps = trainDeps(live.redis, settingsFor(signer), {
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
    assert.equal(await live.redis.xlen(deps.settings.requestsStream), 1);
  });

  void test("when the stream refuses the request and the release fails too, the request's error is the one raised", async () => {
    await live.redis.flushall();
    const client = await restrictedClient(live, "no-xadd-zrem", ["xadd", "zrem"]);
    try {
      const deps = trainDeps(client, settingsFor(signer), { newRequestId: () => "r2" });
      await assert.rejects(handleTrain(command(OWNER), deps), /NOPERM.*'xadd'/);
      assert.equal(await live.redis.exists(deps.settings.requestsStream), 0);
      // Not released: the entry stops counting at its TTL, as for a job whose end is never seen.
      assert.equal(await isActive(live.redis, OWNER, "r2", Date.now()), true);
      assert.equal(await isActive(live.redis, OWNER, "r2", Date.now() + deps.settings.activeJobTtlS * 1000), false);
    } finally {
      client.disconnect();
    }
  });

  void test("a user with closed DMs whose request cannot be withdrawn is told it may run unseen", async () => {
    await live.redis.flushall();
    discord.dmsClosed.add(OWNER.toString());
    const client = await restrictedClient(live, "no-get", ["get"]); // the cancel script's first command
    try {
      const deps = trainDeps(client, settingsFor(signer), { newRequestId: () => "unseen" });
      assert.equal(
        await handleTrain(command(OWNER), deps),
        "Not queued: I cannot send you direct messages, where the job's progress would appear. Allow direct messages from this server's members and try again. (Request `unseen` could not be withdrawn: it may run, with no message to show it.)",
      );
      const logs = deps.log instanceof Logs ? deps.log.lines.join("\n") : "";
      assert.match(logs, /the request unseen could not be withdrawn: .*can.t run this command.* on @user_script:2/);
      assert.equal(await live.redis.xlen(deps.settings.requestsStream), 1, "the request, and no cancel");
      assert.equal(await isActive(live.redis, OWNER, "unseen", Date.now()), true, "it still counts: it may run");
    } finally {
      discord.dmsClosed.delete(OWNER.toString());
      client.disconnect();
    }
  });

  void test("a user with closed DMs whose request is withdrawn but whose slot Redis will not free: the refusal, the slot freed by its end", async () => {
    await live.redis.flushall();
    discord.dmsClosed.add(OWNER.toString());
    const client = await restrictedClient(live, "no-zrem", ["zrem"]); // releaseActive's
    try {
      const deps = trainDeps(client, settingsFor(signer), { newRequestId: () => "kept" });
      assert.match(await handleTrain(command(OWNER), deps), /^Not queued: I cannot send you direct messages/);
      assert.equal(await live.redis.xlen(deps.settings.requestsStream), 2, "the request and its cancel");
      // Still counted: the bot frees it when it folds the cancelled job's end (or at its TTL).
      assert.equal(await isActive(live.redis, OWNER, "kept", Date.now()), true);
    } finally {
      discord.dmsClosed.delete(OWNER.toString());
      client.disconnect();
    }
  });

  void test("a request the stream refuses fails with the stream's error, before any message is tried", async () => {
    await live.redis.flushall();
    await live.redis.set(settingsFor(signer).requestsStream, "not a stream");
    let tried = false;
    const deps = trainDeps(live.redis, settingsFor(signer), {
      channelFor: () => {
        tried = true;
        return Promise.reject(new Error("no channel"));
      },
    });
    await assert.rejects(handleTrain(command(OWNER), deps), /WRONGTYPE/);
    assert.equal(tried, false);
  });

  void test("/train with an option the request does not know names it", async () => {
    await live.redis.flushall();
    const text = await handleTrain(command(OWNER, { colour: "red" }), trainDeps(live.redis, settingsFor(signer)));
    assert.equal(text, 'Not queued: options: Unrecognized key: "colour". Change that option and try again.');
    assert.equal(await live.redis.exists(settingsFor(signer).requestsStream), 0);
  });
});
