// /predict end to end through real processes: a signed interaction to the bot's own process
// (npm start's entry point), the picture served by the Discord stand-in as its CDN serves
// attachments, the prediction queue in a real redis-server, the real Python prediction worker
// (`python -m handwriting_worker predict-worker`, a model on disk), and the edit of the answer.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { readImageHeader } from "../../src/interactions/image_header.ts";
import { FakeDiscord } from "../support/fake_discord.ts";
import { OWNER, post, Signer } from "../support/interactions_support.ts";
import { digitPng, predictInteraction } from "../support/predict_support.ts";
import { RedisServer } from "../support/redis_server.ts";
import { freePort } from "../support/free_port.ts";
import { Processes, PYTHON, REPO } from "../support/e2e_processes.ts";

let redisServer: RedisServer;

let discord: FakeDiscord;

let apiUrl: string;

let signer: Signer;

let endpoint: string;

const processes = new Processes();

async function predict(
  picture: Uint8Array,
  name: string,
  options: Record<string, string> = {},
): Promise<{ first: unknown; body: unknown; files: readonly { name: string; bytes: Uint8Array }[] }> {
  const url = discord.attachmentUrl(apiUrl, `901/77/${name}`, { bytes: picture, contentType: "image/png" });
  const { token, body } = predictInteraction(OWNER, url, picture.byteLength, options);
  const answer = await post({ url: endpoint, signer }, body);
  assert.equal(answer.status, 200);
  const first = answer.body;
  const [edit] = await processes.waitFor(`the answer to ${name}`, () => discord.interactionEdits.get(token), 60_000);
  assert.ok(edit !== undefined);
  return { first, ...edit };
}

before(async () => {
  redisServer = await RedisServer.start();
  discord = new FakeDiscord();
  apiUrl = await discord.start();
  signer = new Signer();
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}/interactions`;
  const artifacts = join(mkdtempSync(join(tmpdir(), "e2e-predict-")), "artifacts");
  // An untrained CNN with a valid manifest: what the worker loads is checked, not what it knows.
  const install = spawnSync(
    PYTHON,
    [
      "-c",
      `from pathlib import Path; from tests.predict_support import install_model; install_model(Path(${JSON.stringify(artifacts)}), "digits", "run-e2e")`,
    ],
    {
      cwd: REPO,
      encoding: "utf8",
    },
  );
  assert.equal(install.status, 0, install.stderr);
  const worker = processes.start("predict-worker", PYTHON, ["-m", "handwriting_worker", "predict-worker"], REPO, {
    REDIS_URL: redisServer.url,
    DIGITS__ARTIFACTS_ROOT: artifacts,
  });
  const bot = processes.startBot({
    apiUrl,
    redisUrl: redisServer.url,
    signer,
    port,
    env: {
      DIGITS_ATTACHMENT_ORIGIN: new URL(apiUrl).origin,
    },
  });
  await processes.waitFor("the bot's endpoint", () => bot().includes("interactions endpoint listening"), 60_000);
  await processes.waitFor("the prediction worker", () => worker().includes("predict worker reading"), 60_000);
});

after(async () => {
  await processes.stopAll();
  await discord.stop();
  await redisServer.stop();
});

void test("a picture of a digit: thinking at once, then the digit, the model and the 28x28 input as an edit of the answer", async () => {
  const { first, body, files } = await predict(digitPng("7"), "seven.png");
  assert.deepEqual(first, { type: 5, data: { flags: 64 } });
  const text = JSON.stringify(body);
  assert.match(text, /"title":"Reads [0-9] \([0-9.]+%\)"/);
  assert.match(text, /"value":"digits · run run\\\\-e2e · val_acc 98\.0%"/);
  const [picture] = files;
  assert.equal(picture?.name, "input.png");
  assert.deepEqual(readImageHeader(picture.bytes), { kind: "image", format: "png", width: 112, height: 112 });
});

void test("the worker's refusals reach the user: a blank page, a model never trained", async () => {
  const blank = await predict(digitPng(""), "blank.png");
  assert.match(
    JSON.stringify(blank.body),
    /"content":"Could not read the picture: the picture is blank; send a picture with one digit on it\."/,
  );
  const unknown = await predict(digitPng("3"), "three.png", { model_id: "nothing" });
  assert.match(
    JSON.stringify(unknown.body),
    /"content":"No prediction: no model 'nothing' has been trained yet; train one with \/train model/,
  );
});
