// /predict end to end through real processes: a signed interaction to the bot's own process
// (npm start's entry point), the picture served by the Discord stand-in as its CDN serves
// attachments, the prediction queue in a real redis-server, the real Python prediction worker
// (`python -m handwriting_worker predict-worker`, a model on disk), and the edit of the answer.

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { readImageHeader } from "../../src/interactions/image_header.ts";
import { FakeDiscord } from "../support/fake_discord.ts";
import { APPLICATION_ID, OWNER, Signer } from "../support/interactions_support.ts";
import { digitPng, predictInteraction } from "../support/predict_support.ts";
import { RedisServer } from "../support/redis_server.ts";

const REPO = resolve(import.meta.dirname, "..", "..", "..");

const PYTHON = resolve(REPO, ".venv", "bin", "python");

let redisServer: RedisServer;

let discord: FakeDiscord;

let apiUrl: string;

let signer: Signer;

let endpoint: string;

const children: { name: string; child: ChildProcess; output: () => string }[] = [];

async function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => {
        done(port);
      });
    });
  });
}

function start(name: string, command: string, args: string[], cwd: string, env: Record<string, string>): () => string {
  let out = "";
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
  children.push({ name, child, output: () => out });
  return () => out;
}

async function waitFor<T>(what: string, check: () => T | null | undefined | false, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}\n${children.map((c) => `--- ${c.name}\n${c.output().slice(-2000)}`).join("\n")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function predict(
  picture: Uint8Array,
  name: string,
  options: Record<string, string> = {},
): Promise<{ first: unknown; body: unknown; files: readonly { name: string; bytes: Uint8Array }[] }> {
  const url = discord.attachmentUrl(apiUrl, `901/77/${name}`, { bytes: picture, contentType: "image/png" });
  const { token, body } = predictInteraction(OWNER, url, picture.byteLength, options);
  const text = JSON.stringify(body);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const headers = {
    "content-type": "application/json",
    "x-signature-ed25519": signer.sign(timestamp, text),
    "x-signature-timestamp": timestamp,
  };
  const response = await fetch(endpoint, { method: "POST", headers, body: text });
  assert.equal(response.status, 200);
  const first: unknown = await response.json();
  const [edit] = await waitFor(`the answer to ${name}`, () => discord.interactionEdits.get(token), 60_000);
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
  const worker = start("predict-worker", PYTHON, ["-m", "handwriting_worker", "predict-worker"], REPO, {
    REDIS_URL: redisServer.url,
    DIGITS__ARTIFACTS_ROOT: artifacts,
  });
  const bot = start("bot", "node", ["--import", "tsx", "src/main.ts"], resolve(REPO, "typescript"), {
    DISCORD_TOKEN: "test",
    DISCORD_API_URL: apiUrl,
    REDIS_URL: redisServer.url,
    DISCORD_PUBLIC_KEY: signer.publicKeyHex,
    DISCORD_APPLICATION_ID: APPLICATION_ID,
    DIGITS_INTERACTIONS_PORT: String(port),
    DIGITS_ATTACHMENT_ORIGIN: new URL(apiUrl).origin,
  });
  await waitFor("the bot's endpoint", () => bot().includes("interactions endpoint listening"), 60_000);
  await waitFor("the prediction worker", () => worker().includes("predict worker reading"), 60_000);
});

after(async () => {
  for (const { child } of children) {
    if (child.pid !== undefined && child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(-child.pid, "SIGTERM");
      const timer = setTimeout(() => {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
  }
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
