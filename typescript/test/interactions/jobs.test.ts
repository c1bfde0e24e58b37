// /jobs through the endpoint, from what the bots store in Redis: /train's active sets and the job
// store's events. Each state reads as the live message would say it; only admins may ask for all.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ACTIVE_ALL_KEY } from "../../src/generated/names.ts";
import { memberOf, RedisJobStore } from "../../src/jobs/job_store.ts";
import { RedisMessageStore } from "../../src/discord/message_store.ts";
import { contentOf, OTHER } from "../support/interactions_support.ts";
import { batch, BIG_USER_ID, completed, eventText, failed, jobState, started } from "../support/fixtures.ts";
import { type PredictStage, startPredictStage } from "../support/predict_support.ts";
import { stateText } from "../../src/interactions/jobs.ts";

const PREFIX = "digits:bot:digits-bot:";

const USER = BigInt(BIG_USER_ID);

const ADMIN = "77";

let stage: PredictStage;

let entry = 1;

const NOTIFY_CHANNEL = "555";

function jobsInteraction(userId: string, all?: boolean, guildId?: string): object {
  return {
    ...(guildId === undefined ? {} : { guild_id: guildId }),
    type: 2,
    id: `jobs-id-${entry++}`,
    application_id: "424242",
    token: `jobs-${entry}`,
    channel_id: "901",
    user: { id: userId, username: "someone" },
    data: { id: "7", name: "jobs", type: 1, options: all === undefined ? [] : [{ name: "all", type: 5, value: all }] },
  };
}

async function store(requestId: string, texts: string[], userId = USER): Promise<void> {
  const jobs = new RedisJobStore(stage.redis, PREFIX);
  const job = { userId, requestId };
  await jobs.append(
    texts.map((text) => ({
      job,
      member: memberOf(`${1000 + entry++}-0`, text.replaceAll('"req-1"', JSON.stringify(requestId))),
      batch: false,
    })),
    Date.now(),
  );
}

async function jobs(userId: string, all?: boolean, guildId?: string): Promise<string> {
  return contentOf({ status: 200, body: await stage.send(jobsInteraction(userId, all, guildId)) });
}

before(async () => {
  stage = await startPredictStage({}, { adminUserIds: new Set([ADMIN]) }, NOTIFY_CHANNEL);
});

after(async () => {
  await stage.stop();
});

void test("nobody's jobs yet: says so, and how to start one", async () => {
  assert.equal(await jobs(BIG_USER_ID), "You have no queued, running or recent jobs. Start one with /train.");
  assert.equal(await jobs(ADMIN, true), "No jobs are queued, running or recent.");
});

void test("a user's jobs: queued with those ahead, running with progress and its message, then the rest newest first", async () => {
  const later = Date.now() + 3_600_000;
  await stage.redis.zadd(
    ACTIVE_ALL_KEY,
    later,
    `${OTHER.toString()}:theirs`,
    later + 1,
    `${BIG_USER_ID}:running`,
    later + 2,
    `${BIG_USER_ID}:queued`,
  );
  await stage.redis.zadd(ACTIVE_ALL_KEY, Date.now() - 1000, `${BIG_USER_ID}:expired`); // stopped counting
  await store("running", [started(), batch(2, 50)]);
  await store("done", [started(), completed(0.9812)]);
  await store("cancelled", [started(), failed("user", "cancelled by user 5")]);
  await store("broken", [started(), failed("system", "disk full")]);
  await store("starting", [started()]);
  await store("unreadable", [eventText("digits.train.started.v1", { total_epochs: "three" })]);
  await new RedisMessageStore(stage.redis, PREFIX).set(`${BIG_USER_ID}:running`, { channelId: "dm1", messageId: "m1" });
  assert.equal(
    await jobs(BIG_USER_ID),
    [
      "**Your jobs** (7)",
      "- running digits · Training 50.0% · [message](https://discord.com/channels/@me/dm1/m1)",
      "- queued · Queued · 2 ahead",
      "- unreadable · Waiting",
      "- starting digits · Starting",
      "- broken digits · Failed: disk full",
      "- cancelled digits · Cancelled",
      "- done digits · Completed · val_acc 98.1%",
    ].join("\n"),
  );
});

void test("all: admins only; everyone's jobs with who asked, the oldest left out past the limit", async () => {
  assert.equal(await jobs(BIG_USER_ID, true), "Only admins may list everyone's jobs (all:true). Leave it out to see yours.");
  await stage.redis.zadd(ACTIVE_ALL_KEY, Date.now() + 3_600_000, "junk");
  for (let i = 0; i < 10; i += 1) await store(`old-${i}`, [started(), completed()], OTHER);
  const text = await jobs(ADMIN, true);
  const lines = text.split("\n");
  assert.equal(lines[0], "**All jobs** (18)");
  assert.equal(lines[1], `- <@${OTHER.toString()}> theirs · Queued · 0 ahead`);
  assert.equal(lines.length, 1 + 15 + 1);
  assert.equal(lines.at(-1), "…and 3 older");
});

void test("a message in the notify channel (DMs closed) links into the guild the user asked from, a DM one under @me", async () => {
  const user = "4242";
  await store("dmjob", [started(), completed()], BigInt(user));
  await store("channeljob", [started(), batch(1, 10)], BigInt(user)); // the newest: listed first
  const messages = new RedisMessageStore(stage.redis, PREFIX);
  await messages.set(`${user}:channeljob`, { channelId: NOTIFY_CHANNEL, messageId: "m2" });
  await messages.set(`${user}:dmjob`, { channelId: "dm2", messageId: "m3" });
  const [, channelLine, dmLine] = (await jobs(user, undefined, "900")).split("\n");
  assert.equal(channelLine, `- channeljob digits · Training 3.3% · [message](https://discord.com/channels/900/${NOTIFY_CHANNEL}/m2)`);
  assert.equal(dmLine, "- dmjob digits · Completed · val_acc 98.1% · [message](https://discord.com/channels/@me/dm2/m3)");
  // Asked from a DM, the guild is unknown: the channel is named instead of a broken link.
  const fromDm = (await jobs(user)).split("\n")[1];
  assert.equal(fromDm, `- channeljob digits · Training 3.3% · message in <#${NOTIFY_CHANNEL}>`);
});

void test("/jobs state words: a failure without its message still reads as failed", () => {
  const entry = { job: { userId: 1n, requestId: "r" }, ahead: null, run: 0, latest: "" };
  assert.equal(stateText({ ...entry, state: jobState({ status: "failed", failure: null }) }), "Failed: ");
  assert.equal(stateText({ ...entry, state: jobState({ status: "completed", finalValAcc: null }) }), "Completed");
});
