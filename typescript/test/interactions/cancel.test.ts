// The Cancel button through the real endpoint: who may press it, what it records for the worker
// side, and that pressing it twice or after the end changes nothing and says so.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { releaseActive } from "../../src/interactions/index.ts";
import { cancelButton, parseCancelId } from "../../src/view/cancel_button.ts";
import { memberOf } from "../../src/jobs/job_store.ts";
import {
  ADMIN,
  APPLICATION_ID,
  buttonInteraction,
  contentOf,
  type Endpoint,
  interactionsClient,
  OTHER,
  OWNER,
  post,
  restrictedClient,
  settingsFor,
  Signer,
  startEndpoint,
  trainInteraction,
} from "../support/interactions_support.ts";
import { reserveActive } from "../../src/interactions/active.ts";
import { cancelKey } from "../../src/interactions/settings.ts";
import { handleCancel } from "../../src/interactions/cancel.ts";
import { type UserInteraction } from "../../src/interactions/server.ts";
import { liveRedis } from "../support/live_redis.ts";

let endpoint: Endpoint;

before(async () => {
  endpoint = await startEndpoint({ DIGITS_ADMIN_USER_IDS: ADMIN.toString() });
});

after(async () => {
  await endpoint.stop();
});

/** Starts a job of OWNER; the custom_id of its Cancel button. */
async function startJob(): Promise<{ requestId: string; customId: string }> {
  const text = contentOf(await post(endpoint, trainInteraction(OWNER)));
  const requestId = /`([0-9a-f]{32})`/.exec(text)?.[1] ?? "";
  const ref = endpoint.messages.get(`${OWNER.toString()}:${requestId}`);
  const components = ref === undefined ? undefined : endpoint.discord.messages.get(ref.messageId)?.components;
  const customId = /"custom_id":"([^"]+)"/.exec(JSON.stringify(components))?.[1] ?? "";
  return { requestId, customId };
}

async function cancels(): Promise<string[]> {
  const reply = await endpoint.redis.xrange(endpoint.settings.requestsStream, "-", "+");
  return reply.filter(([, fields]) => fields[0] === "cancel").map(([, fields]) => fields[1] ?? "");
}

void test("the owner's Cancel records who and asks the intake, once; a second press says it is already cancelling", async () => {
  await endpoint.redis.flushall();
  const { requestId, customId } = await startJob();
  assert.equal(customId, `digits:cancel:${OWNER.toString()}:${requestId}`);
  assert.equal(
    contentOf(await post(endpoint, buttonInteraction(OWNER, customId))),
    "Cancelling: the job's message will say when it has stopped.",
  );
  assert.deepEqual(await cancels(), [`{"request_id":"${requestId}","user_id":${OWNER.toString()},"by":${OWNER.toString()}}`]);
  assert.equal(await endpoint.redis.get(`digits:cancel:${OWNER.toString()}:${requestId}`), OWNER.toString());
  const again = contentOf(await post(endpoint, buttonInteraction(OWNER, customId)));
  assert.equal(again, `This job is already being cancelled (by <@${OWNER.toString()}>); nothing more to do.`);
  assert.equal((await cancels()).length, 1);
});

void test("another user's Cancel is refused and changes nothing; an admin's is taken", async () => {
  await endpoint.redis.flushall();
  const { requestId, customId } = await startJob();
  const refused = contentOf(await post(endpoint, buttonInteraction(OTHER, customId)));
  assert.equal(refused, `Only <@${OWNER.toString()}>, who started this job, or an admin can cancel it. Nothing was changed.`);
  assert.deepEqual(await cancels(), []);
  assert.equal(await endpoint.redis.exists(`digits:cancel:${OWNER.toString()}:${requestId}`), 0);
  assert.match(contentOf(await post(endpoint, buttonInteraction(ADMIN, customId))), /^Cancelling/);
  assert.equal(await endpoint.redis.get(`digits:cancel:${OWNER.toString()}:${requestId}`), ADMIN.toString());
});

void test("Cancel after the job ended changes nothing and says so", async () => {
  await endpoint.redis.flushall();
  const { requestId, customId } = await startJob();
  await releaseActive(endpoint.redis, OWNER, requestId); // its terminal event was folded
  assert.equal(
    contentOf(await post(endpoint, buttonInteraction(OWNER, customId))),
    "This job has already ended: there is nothing to cancel.",
  );
  assert.deepEqual(await cancels(), []);
});

void test("a job queued with the CLI (known to the bot only from its events) can be cancelled until its end is shown", async () => {
  await endpoint.redis.flushall();
  const requestId = "cli-queued";
  const customId = /"custom_id":"([^"]+)"/.exec(JSON.stringify(cancelButton(OWNER, requestId)))?.[1] ?? ""; // the running message's button
  const job = { userId: OWNER, requestId };
  await endpoint.jobs.append([{ job, member: memberOf("1-0", "{}"), batch: false }], Date.now()); // its started event
  assert.match(contentOf(await post(endpoint, buttonInteraction(OWNER, customId))), /^Cancelling/);
  assert.equal((await cancels()).length, 1);
  await endpoint.redis.del(`digits:cancel:${OWNER.toString()}:${requestId}`);
  await endpoint.jobs.close(job); // its final state is shown
  assert.equal(
    contentOf(await post(endpoint, buttonInteraction(OWNER, customId))),
    "This job has already ended: there is nothing to cancel.",
  );
  assert.equal((await cancels()).length, 1);
});

void test("a Cancel that cannot reach the stream can be pressed again", async () => {
  await endpoint.redis.flushall();
  const { requestId, customId } = await startJob();
  await endpoint.redis.del(endpoint.settings.requestsStream);
  await endpoint.redis.set(endpoint.settings.requestsStream, "not a stream"); // XADD fails
  assert.match(contentOf(await post(endpoint, buttonInteraction(OWNER, customId))), /^Something went wrong on our side/);
  assert.equal(await endpoint.redis.exists(`digits:cancel:${OWNER.toString()}:${requestId}`), 0);
  await endpoint.redis.del(endpoint.settings.requestsStream);
  assert.match(contentOf(await post(endpoint, buttonInteraction(OWNER, customId))), /^Cancelling/);
});

void test("buttons: unknown ones do nothing; ids too long for Discord get no button", async () => {
  assert.equal(contentOf(await post(endpoint, buttonInteraction(OWNER, "other:button"))), "This button does nothing any more.");
  assert.equal(cancelButton(OWNER, "r".repeat(80)), null);
  assert.deepEqual(parseCancelId(`digits:cancel:5:a:b`), { userId: 5n, requestId: "a:b" });
  assert.equal(parseCancelId("digits:cancel:x:a"), null);
  assert.equal(parseCancelId("digits:cancel:5:"), null);
});

void describe("handleCancel called in-process", () => {
  const live = liveRedis(interactionsClient);

  const signer = new Signer();

  /** No job known from its events: only /train's active set counts. */
  const notOpen = (): Promise<boolean> => Promise.resolve(false);

  function button(userId: bigint, customId: string): Extract<UserInteraction, { kind: "button" }> {
    return { kind: "button", customId, id: "2", applicationId: APPLICATION_ID, token: "t", userId, guildId: null, channelId: "901" };
  }

  void test("two Cancel presses at once: one records who and asks the intake, the other names who did", async () => {
    await live.redis.flushall();
    const settings = settingsFor(signer, { DIGITS_ADMIN_USER_IDS: "77" });
    await reserveActive(live.redis, settings, OWNER, "job", Date.now());
    const deps = { redis: live.redis, settings, now: Date.now, isOpen: notOpen };
    const customId = `digits:cancel:${OWNER.toString()}:job`;
    const answers = await Promise.all([handleCancel(button(OWNER, customId), deps), handleCancel(button(77n, customId), deps)]);
    const first = answers.indexOf("Cancelling: the job's message will say when it has stopped.");
    assert.notEqual(first, -1, JSON.stringify(answers));
    const winner = first === 0 ? OWNER : 77n;
    assert.equal(answers[1 - first], `This job is already being cancelled (by <@${winner.toString()}>); nothing more to do.`);
    assert.equal(await live.redis.get(cancelKey(OWNER, "job")), winner.toString());
    const ttl = await live.redis.ttl(cancelKey(OWNER, "job"));
    assert.ok(ttl > 0 && ttl <= settings.activeJobTtlS, String(ttl));
    assert.equal(await live.redis.xlen(settings.requestsStream), 1);
  });

  void test("a Cancel whose request Redis refuses records nothing, even with no clean-up allowed: the next press is taken", async () => {
    await live.redis.flushall();
    const settings = settingsFor(signer);
    await reserveActive(live.redis, settings, OWNER, "job", Date.now());
    const client = await restrictedClient(live, "no-xadd-del", ["xadd", "del"]);
    try {
      const customId = `digits:cancel:${OWNER.toString()}:job`;
      await assert.rejects(
        handleCancel(button(OWNER, customId), { redis: client, settings, now: Date.now, isOpen: notOpen }),
        /can't run this command.* on @user_script:4/, // line 4 of the script: its XADD
      );
      assert.equal(await live.redis.xlen(settings.requestsStream), 0);
      assert.equal(await live.redis.exists(cancelKey(OWNER, "job")), 0, "the press and its request are one step: neither happened");
      assert.equal(
        await handleCancel(button(OWNER, customId), { redis: live.redis, settings, now: Date.now, isOpen: notOpen }),
        "Cancelling: the job's message will say when it has stopped.",
      );
      assert.equal(await live.redis.xlen(settings.requestsStream), 1);
    } finally {
      client.disconnect();
    }
  });
});
