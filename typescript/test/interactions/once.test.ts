// Each interaction is handled once: the same signed /train delivered again (byte-identical, or
// signed anew as a retry is) queues one job and every copy gets the first answer; copies racing
// the first wait for its answer; a first copy that failed lets a retry be handled afresh.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import type { UserInteraction } from "../../src/interactions/server.ts";
import { handledOnce, INTERACTION_KEY_PREFIX, STILL_HANDLING } from "../../src/interactions/once.ts";
import { contentOf, type Endpoint, Logs, OWNER, post, startEndpoint, trainInteraction } from "../support/interactions_support.ts";

let endpoint: Endpoint;

before(async () => {
  endpoint = await startEndpoint();
});

after(async () => {
  await endpoint.stop();
});

async function requests(): Promise<number> {
  return (await endpoint.redis.exists(endpoint.settings.requestsStream)) === 0
    ? 0
    : await endpoint.redis.xlen(endpoint.settings.requestsStream);
}

void test("the same /train delivered three times, byte-identical or signed anew, queues one job; each copy gets the first answer", async () => {
  await endpoint.redis.flushall();
  const body = trainInteraction(OWNER);
  const text = JSON.stringify(body);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const headers = { "x-signature-ed25519": endpoint.signer.sign(timestamp, text), "x-signature-timestamp": timestamp };
  const first = contentOf(await post(endpoint, body, { headers }));
  assert.match(first, /^Queued: request `[0-9a-f]{32}`/);
  assert.equal(contentOf(await post(endpoint, body, { headers })), first, "byte-identical");
  assert.equal(contentOf(await post(endpoint, body, { timestampS: Math.floor(Date.now() / 1000) + 1 })), first, "signed anew");
  assert.equal(await requests(), 1);
  assert.equal(endpoint.discord.messages.size, 1, "one Queued message");
  const keys = await endpoint.redis.keys(`${INTERACTION_KEY_PREFIX}*`);
  assert.equal(keys.length, 1);
  const ttl = await endpoint.redis.ttl(keys[0] ?? "");
  assert.ok(ttl > endpoint.settings.maxAgeS && ttl <= 2 * endpoint.settings.maxAgeS, `kept past the accepted age: ${ttl}`);
});

void test("copies arriving together: one is handled, the others wait for its answer", async () => {
  await endpoint.redis.flushall();
  const body = trainInteraction(OWNER);
  const answers = await Promise.all([post(endpoint, body), post(endpoint, body), post(endpoint, body)]);
  const texts = answers.map(contentOf);
  assert.match(texts[0] ?? "", /^Queued: /);
  assert.deepEqual(new Set(texts).size, 1, texts.join("\n"));
  assert.equal(await requests(), 1);
});

function command(id: string): UserInteraction {
  return {
    kind: "command",
    name: "train",
    options: new Map(),
    id,
    applicationId: "1",
    token: "t",
    userId: OWNER,
    guildId: null,
    channelId: null,
  };
}

void test("a first copy that failed changed nothing: a retry is handled afresh", async () => {
  await endpoint.redis.flushall();
  let calls = 0;
  const once = handledOnce(
    () => {
      calls += 1;
      return calls === 1 ? Promise.reject(new Error("Redis went away")) : Promise.resolve(`answer ${calls}`);
    },
    { redis: endpoint.redis, maxAgeS: 300, log: new Logs() },
  );
  await assert.rejects(once(command("f1")), /Redis went away/);
  assert.equal(await once(command("f1")), "answer 2");
  assert.equal(await once(command("f1")), "answer 2");
  assert.equal(calls, 2);
});

void test("a copy still waiting when the first takes too long is told so; an answer that cannot be kept is logged", async () => {
  await endpoint.redis.flushall();
  let finish = (): void => undefined;
  const logs = new Logs();
  const slow = handledOnce(
    () =>
      new Promise<string>(
        (resolve) =>
          (finish = () => {
            resolve("late answer");
          }),
      ),
    {
      redis: endpoint.redis,
      maxAgeS: 300,
      log: logs,
      waitMs: 250,
    },
  );
  const first = slow(command("s1"));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(await slow(command("s1")), STILL_HANDLING);
  finish();
  assert.equal(await first, "late answer");
  assert.equal(await slow(command("s1")), "late answer", "kept for later copies");
  const client = new Redis(endpoint.redis.options.port ?? 0, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  await client.connect();
  const keeps = handledOnce(
    () => {
      client.disconnect(); // Redis goes away while the first copy is handled
      return Promise.resolve("answered anyway");
    },
    { redis: client, maxAgeS: 300, log: logs },
  );
  assert.equal(await keeps(command("k1")), "answered anyway");
  assert.match(
    logs.lines.join("\n"),
    /^warn interactions: the answer to k1 could not be kept for its repeats \(.+\); a repeat is told it is being handled$/m,
  );
});
