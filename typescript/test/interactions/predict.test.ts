// /predict through the endpoint: "thinking…" at once, then the answer as an edit; the picture
// fetched only as allowed (every refusal here), the request on the prediction queue, and the
// result a worker pushes rendered (a stand-in worker in this file; e2e_predict runs the real one).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { stringify } from "lossless-json";
import { PREDICT_QUEUE } from "../../src/generated/names.ts";
import type { DigitsPredictResultV1, DigitsPredictV1 } from "../../src/generated/contracts.ts";
import { loadPredictSettings, MAX_ATTACHMENT_BYTES, predictResultKey } from "../../src/interactions/predict_settings.ts";
import { decodePredictRequest } from "../../src/interactions/predict_decode.ts";
import { OWNER } from "../support/interactions_support.ts";
import { jpegHeader, pngHeader, predictInteraction, type PredictStage, startPredictStage } from "../support/predict_support.ts";
import { Redis } from "ioredis";
import { handlePredict, type PredictDeps } from "../../src/interactions/predict.ts";
import { loadInteractionSettings } from "../../src/interactions/settings.ts";

let stage: PredictStage;

before(async () => {
  stage = await startPredictStage({ DIGITS_PREDICT_TIMEOUT_S: "2", DIGITS_PREDICTS_PER_MINUTE: "40" });
});

after(async () => {
  await stage.stop();
});

const PROBABILITIES = [0.01, 0.02, 0.05, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.02];

function result(request: DigitsPredictV1, fields: Partial<DigitsPredictResultV1> = {}): DigitsPredictResultV1 {
  return {
    type: "digits.predict.result.v1",
    request_id: request.request_id,
    user_id: request.user_id,
    model_id: request.model_id,
    outcome: "predicted",
    reason: null,
    probabilities: PROBABILITIES,
    run_id: "20261206T020000Z-abcd",
    val_acc: 0.987,
    input_png_base64: Buffer.from(pngHeader(112, 112)).toString("base64"),
    ts: "2026-12-06T02:00:00Z",
    ...fields,
  };
}

/** Plays the prediction worker once: pops a request, pushes what `answer` makes of it (text as is). */
async function workOnce(answer: (request: DigitsPredictV1) => DigitsPredictResultV1 | string): Promise<DigitsPredictV1> {
  const blocking = stage.redis.duplicate();
  try {
    const popped = await blocking.brpop(PREDICT_QUEUE, 20);
    assert.ok(popped !== null, "no request on the prediction queue");
    const decoded = decodePredictRequest(popped[1]);
    assert.equal(decoded.kind, "ok");
    const made = answer(decoded.message);
    await stage.redis.rpush(
      predictResultKey(decoded.message.user_id, decoded.message.request_id),
      typeof made === "string" ? made : String(stringify(made)),
    );
    return decoded.message;
  } finally {
    blocking.disconnect();
  }
}

async function predict(
  url: string,
  size: number,
  options: Record<string, string> = {},
  user = OWNER,
): Promise<{ first: unknown; edit: { body: unknown; files: readonly { name: string; bytes: Uint8Array }[] } }> {
  const { token, body } = predictInteraction(user, url, size, options);
  const first = await stage.send(body);
  const [edit] = await stage.edits(token);
  assert.ok(edit !== undefined);
  return { first, edit };
}

function contentOfEdit(edit: { body: unknown }): string {
  const body = edit.body;
  return typeof body === "object" && body !== null && "content" in body && typeof body.content === "string" ? body.content : "";
}

void test("a picture is read: thinking at once, then the digit, the top three, the model and the input the model saw", async () => {
  const picture = pngHeader(200, 150);
  const url = stage.attach("digit.png", { bytes: picture, contentType: "image/png" });
  const working = workOnce((request) => result(request));
  const { first, edit } = await predict(url, picture.byteLength);
  assert.deepEqual(first, { type: 5, data: { flags: 64 } });
  const request = await working;
  assert.equal(request.user_id, OWNER); // every digit of a user id above 2^53
  assert.equal(request.model_id, "digits");
  assert.ok(Buffer.from(request.image_base64, "base64").equals(Buffer.from(picture)));
  assert.deepEqual(edit.body, {
    content: "Reads 3 (90.0%)",
    allowed_mentions: { parse: [] },
    embeds: [
      {
        title: "Reads 3 (90.0%)",
        color: 0x3b82f6,
        description: "Top three: **3** 90.0% · **2** 5.0% · **1** 2.0%",
        fields: [{ name: "Model", value: "digits · run 20261206T020000Z\\-abcd · val_acc 98.7%" }],
        image: { url: "attachment://input.png" },
        footer: { text: "The 28×28 input the model saw, after centring" },
      },
    ],
    attachments: [{ id: "0", filename: "input.png" }],
  });
  assert.deepEqual(
    edit.files.map((file) => [file.name, file.bytes.byteLength]),
    [["input.png", 24 + 16]],
  );
});

void test("the worker's refusal and failure are one line each; a result without its picture has no image", async () => {
  const picture = jpegHeader(64, 64);
  const url = stage.attach("photo.jpg", { bytes: picture, contentType: "image/jpeg" });
  const cases: [(request: DigitsPredictV1) => DigitsPredictResultV1, string | null][] = [
    [
      (r) => result(r, { outcome: "refused", reason: "the picture is blank; send a picture with one digit on it", probabilities: null }),
      "Could not read the picture: the picture is blank; send a picture with one digit on it.",
    ],
    [
      (r) => result(r, { outcome: "failed", reason: "no model 'x' has been trained yet", probabilities: null }),
      "No prediction: no model 'x' has been trained yet.",
    ],
    [(r) => result(r, { input_png_base64: null }), null],
  ];
  for (const [make, expected] of cases) {
    const working = workOnce(make);
    const { edit } = await predict(url, picture.byteLength, { model_id: "x" });
    assert.equal((await working).model_id, "x");
    if (expected !== null) assert.equal(contentOfEdit(edit), expected);
    else {
      assert.equal(contentOfEdit(edit), "Reads 3 (90.0%)");
      assert.equal(edit.files.length, 0);
      assert.ok(!JSON.stringify(edit.body).includes("attachment://"));
    }
  }
});

void test("a worker answering nonsense, or not at all in time, is said so; the request does not stay queued", async () => {
  const picture = pngHeader(64, 64);
  const url = stage.attach("late.png", { bytes: picture, contentType: "image/png" });
  const working = workOnce(() => '{"type":"digits.predict.result.v1"}');
  const { edit } = await predict(url, picture.byteLength);
  await working;
  assert.equal(contentOfEdit(edit), "Something went wrong on our side; nothing was kept. Try again in a minute.");
  assert.ok(stage.logs.lines.some((line) => line.includes("with an invalid result")));
  const late = await predict(url, picture.byteLength);
  assert.equal(contentOfEdit(late.edit), "No prediction worker answered within 2 s; nothing was kept. Try again later.");
  assert.equal(await stage.redis.llen(PREDICT_QUEUE), 0);
});

void test("every picture that may not be fetched or read is refused, saying why, and nothing is queued", async () => {
  const other = "https://example.com/attachments/901/77/digit.png";
  const big = new Uint8Array(MAX_ATTACHMENT_BYTES + 1);
  big.set(pngHeader(100, 100));
  const cases: [string, number, string][] = [
    [other, 100, "the picture is not a Discord attachment; attach the picture to the command"],
    ["not a url", 100, "the picture is not a Discord attachment"],
    [
      stage.attach("huge.png", { bytes: pngHeader(100, 100), contentType: "image/png" }),
      3_000_000,
      "the picture is larger than 2 MB; send a smaller one",
    ],
    [stage.attach("lying.png", { bytes: big, contentType: "image/png" }), 100, "the picture is larger than 2 MB; send a smaller one"],
    [
      stage.attach("gone.png", { bytes: new Uint8Array(), contentType: "text/plain", status: 404 }),
      100,
      "Discord answered 404 for the picture; attach it again",
    ],
    [
      stage.attach("moved.png", { bytes: new Uint8Array(), contentType: "text/plain", status: 302, redirectTo: other }),
      100,
      "the picture could not be downloaded; try again",
    ],
    [
      stage.attach("slow.png", { bytes: pngHeader(100, 100), contentType: "image/png", delayMs: 6000 }),
      100,
      "the picture took too long to download; try again",
    ],
    [
      stage.attach("text.png", { bytes: Buffer.from("hello, not a picture"), contentType: "image/png" }),
      100,
      "the file is not a PNG or JPEG picture",
    ],
    [
      stage.attach("nobody.png", { bytes: new Uint8Array(), contentType: "image/png", status: 204 }),
      100,
      "the file is not a PNG or JPEG picture",
    ],
    [
      stage.attach("small.png", { bytes: pngHeader(20, 40), contentType: "image/png" }),
      100,
      "the picture is 20x40 pixels, too small; send one at least 28x28",
    ],
    [
      stage.attach("wide.jpg", { bytes: jpegHeader(5000, 100), contentType: "image/jpeg" }),
      100,
      "the picture is 5000x100 pixels, more than we read (4096x4096)",
    ],
  ];
  for (const [url, size, reason] of cases) {
    const { edit } = await predict(url, size);
    assert.ok(contentOfEdit(edit).startsWith(`Could not read the picture: ${reason}`), `${url}: ${contentOfEdit(edit)}`);
  }
  assert.equal(await stage.redis.llen(PREDICT_QUEUE), 0);
});

void test("no attachment, a bad model_id, too many requests a minute: refused before anything is fetched", async () => {
  const picture = pngHeader(64, 64);
  const url = stage.attach("gone2.png", { bytes: new Uint8Array(), contentType: "text/plain", status: 404 });
  const { token, body } = predictInteraction(OWNER, url, picture.byteLength);
  const bare = { ...body, data: { id: "6", name: "predict", type: 1, options: [{ name: "image", type: 11, value: "77" }] }, token };
  assert.deepEqual(await stage.send(bare), { type: 5, data: { flags: 64 } });
  assert.equal(
    contentOfEdit((await stage.edits(token))[0] ?? { body: null }),
    "Attach a picture of one digit to /predict (its image option).",
  );
  const bad = await predict(url, 100, { model_id: "../etc" });
  assert.match(contentOfEdit(bad.edit), /^Not asked: model_id must be 1 to 64 letters/);
  const user = 555n;
  for (let i = 0; i < 40; i += 1) assert.match(contentOfEdit((await predict(url, 100, {}, user)).edit), /Discord answered 404/);
  const limited = await predict(url, 100, {}, user);
  assert.equal(
    contentOfEdit(limited.edit),
    "Not now: you asked for 40 predictions in the last minute, the most allowed. Try again in a minute.",
  );
  assert.ok((await stage.redis.ttl("digits:predict:rate:555")) > 0);
});

void describe("handlePredict called in-process", () => {
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
});
