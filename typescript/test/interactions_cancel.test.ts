// The Cancel button through the real endpoint: who may press it, what it records for the worker
// side, and that pressing it twice or after the end changes nothing and says so.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { releaseActive } from "../src/interactions/index.ts";
import { cancelButton, parseCancelId } from "../src/view/cancel_button.ts";
import { memberOf } from "../src/jobs/job_store.ts";
import {
  ADMIN,
  buttonInteraction,
  contentOf,
  OTHER,
  OWNER,
  post,
  startEndpoint,
  trainInteraction,
  type Endpoint,
} from "./interactions_support.ts";

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
