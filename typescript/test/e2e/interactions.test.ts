// /train and Cancel end to end, with real parts only: redis-server, the bot (`npm start`'s
// entry point, its interactions endpoint on 127.0.0.1), `python -m handwriting_worker intake`,
// a worker and its work horse training on the offline digits, and the Discord stand-in. Requests
// are signed with a key pair generated for the run.

import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { FakeDiscord } from "../support/fake_discord.ts";
import { buttonInteraction, contentOf, OWNER, post as signedPost, Signer, trainInteraction } from "../support/interactions_support.ts";
import { RedisServer } from "../support/redis_server.ts";
import { freePort } from "../support/free_port.ts";
import { Processes, PYTHON, REPO } from "../support/e2e_processes.ts";

const QUEUE = "digits-e2e-interactions";

let redisServer: RedisServer;

let redis: Redis;

let discord: FakeDiscord;

let signer: Signer;

let endpoint: string;

const processes = new Processes();

async function post(body: object): Promise<unknown> {
  const answer = await signedPost({ url: endpoint, signer }, body);
  assert.equal(answer.status, 200);
  return answer.body;
}

async function train(options: Record<string, number>): Promise<string> {
  const text = contentOf({ status: 200, body: await post(trainInteraction(OWNER, options)) });
  const requestId = /`([0-9a-f]{32})`/.exec(text)?.[1];
  assert.ok(requestId !== undefined, text);
  return requestId;
}

const messageIds = new Map<string, string>();

/** The one message of the request: created by /train as "Queued" (its Cancel button names the request). */
function messageOf(requestId: string): { id: string; title: string; components: unknown } | undefined {
  const known = messageIds.get(requestId);
  if (known !== undefined) return discord.messages.get(known);
  for (const message of discord.messages.values()) {
    if (JSON.stringify(message.components ?? "").includes(requestId)) {
      messageIds.set(requestId, message.id);
      return message;
    }
  }
  return undefined;
}

before(async () => {
  redisServer = await RedisServer.start();
  redis = new Redis(redisServer.url);
  discord = new FakeDiscord();
  const apiUrl = await discord.start();
  signer = new Signer();
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}/interactions`;
  const tmp = mkdtempSync(join(tmpdir(), "e2e-interactions-"));
  const python = {
    REDIS_URL: redisServer.url,
    RQ__QUEUE: QUEUE,
    DIGITS__DATA_ROOT: join(REPO, "data", "mnist"),
    DIGITS__ARTIFACTS_ROOT: join(tmp, "artifacts"),
    DIGITS__SPOOL_DIR: join(tmp, "spool"),
    TRAIN__THREADS: "1",
    TRAIN__MAX_TRAIN_SAMPLES: "512",
    EVENTS__BATCH_EVERY: "2",
  };
  processes.start("intake", PYTHON, ["-m", "handwriting_worker", "intake"], REPO, python);
  processes.start("worker", PYTHON, ["-m", "handwriting_worker", "worker"], REPO, python);
  const bot = processes.startBot({
    apiUrl,
    redisUrl: redisServer.url,
    signer,
    port,
    env: {
      DIGITS_NOTIFY_AT_END: "false",
    },
  });
  await processes.waitFor("the bot's endpoint", () => bot().includes("interactions endpoint listening"), 60_000);
});

after(async () => {
  await processes.stopAll();
  redis.disconnect();
  await discord.stop();
  await redisServer.stop();
});

async function terminalEvents(requestId: string): Promise<string[]> {
  const entries = await redis.xrange("digits:events:log", "-", "+");
  return entries
    .map(([, fields]) => fields[1] ?? "")
    .filter((text) => text.includes(requestId) && /"type":"digits\.train\.(completed|failed)\.v1"/.test(text));
}

void test("a valid /train goes through the endpoint, the stream, the intake and RQ; its one message goes from Queued to completed", async () => {
  const requestId = await train({ epochs: 1 });
  const queued = messageOf(requestId);
  assert.equal(queued?.title, "Queued · digits");
  const done = await processes.waitFor(
    "the message to show the completed job",
    () => messageOf(requestId)?.title.startsWith("Training completed") === true,
    180_000,
  );
  assert.ok(done);
  const creates = discord.requests.filter((r) => r.method === "POST" && r.path.endsWith("/messages") && r.body.includes(requestId));
  assert.equal(creates.length, 1, "one message per job: the Queued one, edited");
  assert.deepEqual(messageOf(requestId)?.components, []); // the Cancel button is gone
  assert.equal((await terminalEvents(requestId)).length, 1);
});

void test("Cancel by the owner while the job trains stops it; one terminal event, the message says who cancelled", async () => {
  const requestId = await train({ epochs: 50 });
  await processes.waitFor("the job to train", () => messageOf(requestId)?.title.startsWith("Training ·") === true, 180_000);
  const customId = `digits:cancel:${OWNER.toString()}:${requestId}`;
  const first = contentOf({ status: 200, body: await post(buttonInteraction(OWNER, customId)) });
  assert.equal(first, "Cancelling: the job's message will say when it has stopped.");
  await processes.waitFor(
    "the message to show the cancel",
    () => messageOf(requestId)?.title.startsWith("Training cancelled") === true,
    30_000,
  );
  const again = contentOf({ status: 200, body: await post(buttonInteraction(OWNER, customId)) });
  assert.match(again, /already/);
  await new Promise((r) => setTimeout(r, 2000));
  const terminals = await terminalEvents(requestId);
  assert.equal(terminals.length, 1, terminals.join("\n"));
  assert.match(terminals[0] ?? "", new RegExp(`"message":"cancelled by user ${OWNER.toString()}"`));
  assert.deepEqual(messageOf(requestId)?.components, []);
});

void test("Cancel of a job still queued behind another removes it: its message goes from Queued to cancelled, nothing trains", async () => {
  const running = await train({ epochs: 50 });
  await processes.waitFor("the first job to train", () => messageOf(running)?.title.startsWith("Training ·") === true, 180_000);
  const queued = await train({ epochs: 1 });
  assert.equal(messageOf(queued)?.title, "Queued · digits");
  const cancel = contentOf({ status: 200, body: await post(buttonInteraction(OWNER, `digits:cancel:${OWNER.toString()}:${queued}`)) });
  assert.match(cancel, /^Cancelling/);
  await processes.waitFor(
    "the queued job's message to show the cancel",
    () => messageOf(queued)?.title.startsWith("Training cancelled") === true,
    30_000,
  );
  // The limit (2 per user) counted both; the cancelled one no longer counts.
  await processes.waitFor(
    "its slot to be free",
    async () => (await redis.zscore(`digits:active:user:${OWNER.toString()}`, queued)) === null,
    10_000,
  );
  await post(buttonInteraction(OWNER, `digits:cancel:${OWNER.toString()}:${running}`));
  await processes.waitFor("the running job to end", () => messageOf(running)?.title.startsWith("Training cancelled") === true, 30_000);
  const events = await redis.xrange("digits:events:log", "-", "+");
  const ofQueued = events.map(([, fields]) => fields[1] ?? "").filter((text) => text.includes(queued));
  assert.equal(ofQueued.length, 1, ofQueued.join("\n")); // its one failed event: it never started
  assert.match(ofQueued[0] ?? "", /"type":"digits\.train\.failed\.v1"/);
});
