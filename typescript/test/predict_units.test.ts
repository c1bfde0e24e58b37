// /predict's pure parts: the image header reader, the answer's rendering edge cases, its
// settings, the dry run's printing of a rich answer, and the registered commands.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ConsoleDiscordPort } from "../src/discord/console_port.ts";
import type { DigitsPredictResultV1 } from "../src/generated/contracts.ts";
import { allCommands, jobsCommand, predictCommand } from "../src/interactions/command.ts";
import { readImageHeader, refusalOf } from "../src/interactions/image_header.ts";
import { predictAnswer } from "../src/interactions/predict_render.ts";
import { loadPredictSettings, MAX_ATTACHMENT_BYTES } from "../src/interactions/predict_settings.ts";
import { Redis } from "ioredis";
import { handlePredict, type PredictDeps } from "../src/interactions/predict.ts";
import { stateText } from "../src/interactions/jobs.ts";
import { loadInteractionSettings } from "../src/interactions/settings.ts";
import { decodePredictResult } from "../src/interactions/predict_decode.ts";
import { jobState } from "./fixtures.ts";
import { jpegHeader, pngHeader } from "./predict_support.ts";

void test("headers: PNG and JPEG sizes read without decoding; anything else, or cut short, is not a picture", () => {
  assert.deepEqual(readImageHeader(pngHeader(640, 480)), { kind: "image", format: "png", width: 640, height: 480 });
  assert.deepEqual(readImageHeader(jpegHeader(300, 200)), { kind: "image", format: "jpeg", width: 300, height: 200 });
  const notImage = {
    kind: "refused",
    reason: "the file is not a PNG or JPEG picture; send a photo or drawing of one digit as PNG or JPEG",
  };
  assert.deepEqual(readImageHeader(pngHeader(640, 480).subarray(0, 20)), notImage); // IHDR cut short
  const renamed = pngHeader(640, 480);
  renamed.set([0x49, 0x44, 0x41, 0x54], 12); // IDAT where IHDR must be
  assert.deepEqual(readImageHeader(renamed), notImage);
  assert.deepEqual(readImageHeader(jpegHeader(300, 200).subarray(0, 12)), notImage); // no frame header
  const junk = new Uint8Array(24);
  junk.set([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0x12, 0x34]); // no marker after APP0
  assert.deepEqual(readImageHeader(junk), notImage);
  assert.deepEqual(readImageHeader(new TextEncoder().encode("GIF89a........")), notImage);
  assert.equal(refusalOf(readImageHeader(pngHeader(28, 28))), null);
  assert.equal(refusalOf(readImageHeader(pngHeader(4096, 4096))), null);
  assert.match(refusalOf(readImageHeader(pngHeader(27, 100))) ?? "", /27x100 pixels, too small/);
  assert.match(refusalOf(readImageHeader(pngHeader(100, 4097))) ?? "", /100x4097 pixels, more than we read/);
});

function result(fields: Partial<DigitsPredictResultV1>): DigitsPredictResultV1 {
  return {
    type: "digits.predict.result.v1",
    request_id: "p",
    user_id: 1n,
    model_id: "digits",
    outcome: "predicted",
    reason: null,
    probabilities: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
    run_id: null,
    val_acc: null,
    input_png_base64: null,
    ts: "2026-12-06T02:00:00Z",
    ...fields,
  };
}

void test("answers: a tie reads the lowest digit; a result without run, val_acc or reason still reads", () => {
  const answer = predictAnswer(result({}));
  assert.ok(typeof answer !== "string");
  assert.equal(answer.content, "Reads 0 (10.0%)");
  assert.deepEqual(answer.embed.fields, [{ name: "Model", value: "digits" }]);
  assert.equal(predictAnswer(result({ outcome: "refused" })), "Could not read the picture: no reason given.");
  assert.equal(predictAnswer(result({ probabilities: null })), "No prediction: no reason given.");
  assert.equal(predictAnswer(result({ outcome: "failed", reason: "*bold* @everyone" })), "No prediction: \\*bold\\* @\u200beveryone.");
});

void test("settings: defaults, each variable, and errors naming the variable and the fix", () => {
  assert.deepEqual(loadPredictSettings({}), {
    attachmentOrigin: "https://cdn.discordapp.com",
    timeoutS: 15,
    perMinute: 6,
    queue: "digits:predict:queue",
  });
  assert.deepEqual(
    loadPredictSettings({
      DIGITS_ATTACHMENT_ORIGIN: "http://127.0.0.1:9",
      DIGITS_PREDICT_TIMEOUT_S: "3",
      DIGITS_PREDICTS_PER_MINUTE: " 100 ",
    }),
    { attachmentOrigin: "http://127.0.0.1:9", timeoutS: 3, perMinute: 100, queue: "digits:predict:queue" },
  );
  assert.throws(
    () => loadPredictSettings({ DIGITS_ATTACHMENT_ORIGIN: "https://cdn.discordapp.com/attachments" }),
    /DIGITS_ATTACHMENT_ORIGIN must be an origin such as https:\/\/cdn.discordapp.com \(no path\)/,
  );
  assert.throws(() => loadPredictSettings({ DIGITS_ATTACHMENT_ORIGIN: "cdn" }), /DIGITS_ATTACHMENT_ORIGIN must be an origin/);
  assert.throws(
    () => loadPredictSettings({ DIGITS_PREDICT_TIMEOUT_S: "0" }),
    /DIGITS_PREDICT_TIMEOUT_S must be a whole number from 1 to 600, got "0"; unset it for 15/,
  );
  assert.equal(MAX_ATTACHMENT_BYTES, 2_097_153); // the schema's image_base64 maxLength, in bytes
});

void test("the dry run prints a rich answer's embed", async () => {
  let out = "";
  const port = new ConsoleDiscordPort((text) => (out += text));
  await port.editOriginal("1", "t", "Reads 3", { content: "Reads 3", embed: { title: "Reads 3", description: "Top three" } });
  await port.editOriginal("1", "t", "plain");
  assert.equal(out, "--- answer to interaction of 1\nReads 3\n## Reads 3\nTop three\n--- answer to interaction of 1\nplain\n");
});

void test("/predict and /jobs as registered: the picture required first, model_id from the schema, all for admins", () => {
  const predict = predictCommand();
  assert.equal(predict.name, "predict");
  assert.deepEqual(predict.options, [
    { name: "image", description: "A photo or drawing of one digit, PNG or JPEG, at most 2 MB", type: 11, required: true },
    {
      name: "model_id",
      description: "Model to ask, by the model_id it was trained under; its latest finished run reads … (default digits)",
      required: false,
      type: 3,
      max_length: 6000,
    },
  ]);
  assert.deepEqual(jobsCommand().options, [{ name: "all", description: "Admins only: everyone's jobs", type: 5, required: false }]);
  assert.deepEqual(
    allCommands().map((command) => command.name),
    ["train", "predict", "jobs"],
  );
});

void test("a result that is not JSON is invalid, saying so", () => {
  const decoded = decodePredictResult("{not json");
  assert.match(decoded.kind === "invalid" ? decoded.reason : "accepted", /^not JSON/);
});

void test("/predict is refused outside the allowed guilds and channels, and without a resolved picture", async () => {
  const loaded = loadInteractionSettings({ DISCORD_PUBLIC_KEY: "ab".repeat(32), DISCORD_APPLICATION_ID: "1" });
  assert.equal(loaded.kind, "on");
  const redis = new Redis({ lazyConnect: true }); // never used: every case here is refused first
  const deps = (guilds: string[], channels: string[]): PredictDeps => ({
    redis,
    settings: { ...loaded.settings, allowedGuildIds: new Set(guilds), allowedChannelIds: new Set(channels) },
    predict: loadPredictSettings({}),
    log: { info: () => undefined, warn: () => undefined },
  });
  const command = (guildId: string | null, channelId: string | null, options: [string, string][] = []) => ({
    kind: "command" as const,
    id: "1",
    name: "predict",
    options: new Map(options),
    applicationId: "1",
    token: "t",
    userId: 5n,
    guildId,
    channelId,
  });
  const here = "Predictions cannot be made from here. Ask an admin where the bot's commands are allowed.";
  assert.equal(await handlePredict(command(null, "c"), deps(["g"], [])), here);
  assert.equal(await handlePredict(command("h", "c"), deps(["g"], [])), here);
  assert.equal(await handlePredict(command("g", null), deps(["g"], ["c"])), here);
  assert.equal(await handlePredict(command("g", "d"), deps([], ["c"])), here);
  const attach = "Attach a picture of one digit to /predict (its image option).";
  assert.equal(await handlePredict(command("g", "c"), deps(["g"], ["c"])), attach);
  assert.equal(await handlePredict(command("g", "c", [["image", "77"]]), deps([], [])), attach);
  redis.disconnect();
});

void test("/jobs state words: a failure without its message still reads as failed", () => {
  const entry = { job: { userId: 1n, requestId: "r" }, ahead: null, run: 0, latest: "" };
  assert.equal(stateText({ ...entry, state: jobState({ status: "failed", failure: null }) }), "Failed: ");
  assert.equal(stateText({ ...entry, state: jobState({ status: "completed", finalValAcc: null }) }), "Completed");
});
