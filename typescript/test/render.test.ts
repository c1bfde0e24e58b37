import assert from "node:assert/strict";
import { test } from "node:test";
import type { APIEmbed } from "discord-api-types/v10";
import { DISCORD_LIMITS } from "../src/shared/limits.ts";
import { escapeText } from "../src/view/escape.ts";
import { embedLength, progressBar, renderJob } from "../src/view/render.ts";
import type { JobState } from "../src/jobs/state.ts";
import { jobState } from "./fixtures.ts";

const base: JobState = jobState({
  lastBatch: { epoch: 2, batch: 50, totalBatches: 100, batchLoss: 0.123456, batchAcc: 0.96875, samplesPerSec: 12345.6 },
  epochs: [{ epoch: 1, valAcc: 0.9712, timeS: 12.34 }],
  best: { epoch: 1, valAcc: 0.9712 },
});

function fieldValue(embed: APIEmbed, name: string): string {
  const field = embed.fields?.find((candidate) => candidate.name === name);
  assert.ok(field !== undefined, `no field ${name} in ${JSON.stringify(embed.fields)}`);
  return field.value;
}

function assertWithinLimits(embed: APIEmbed): void {
  assert.ok(embedLength(embed) <= DISCORD_LIMITS.embedTotal, `total ${embedLength(embed)}`);
  assert.ok((embed.title ?? "").length <= DISCORD_LIMITS.title);
  assert.ok((embed.description ?? "").length <= DISCORD_LIMITS.description);
  assert.ok((embed.fields ?? []).length <= DISCORD_LIMITS.fields);
  for (const field of embed.fields ?? []) {
    assert.ok(field.value.length <= DISCORD_LIMITS.fieldValue, `${field.name}: ${field.value.length}`);
    assert.ok(field.name.length <= DISCORD_LIMITS.fieldName);
  }
}

void test("title and colour follow the status", () => {
  const colours = new Set<number>();
  for (const status of ["started", "training", "completed", "failed"] as const) {
    const { embed } = renderJob({ ...base, status, failure: status === "failed" ? { kind: "system", message: "disk full" } : null });
    assert.ok(embed.title?.includes("digits"));
    colours.add(embed.color ?? -1);
  }
  assert.equal(colours.size, 4);
  assert.match(renderJob({ ...base, status: "failed", failure: { kind: "system", message: "x" } }).embed.title ?? "", /^Training failed/);
});

void test("training shows the whole-job bar, epoch x/y, batch b/B and the latest batch numbers", () => {
  const { embed } = renderJob(base);
  const text = embed.description ?? "";
  assert.ok(text.includes(progressBar(0.3)), text); // (1 + 0.5) / 5
  assert.match(text, /Epoch 2\/5 · batch 50\/100/);
  assert.match(text, /Batch loss 0\.1235 · accuracy 96\.88% · 12,346 samples\/s/);
  assert.match(fieldValue(embed, "Epochs"), /^Epoch 1: val_acc 97\.12% · 12\.3 s ★ best$/);
});

void test("progress bar is in a code span and has fixed width", () => {
  assert.equal(progressBar(0), "`[░░░░░░░░░░░░░░░░░░░░]` 0%");
  assert.equal(progressBar(1), "`[████████████████████]` 100%");
  assert.equal(progressBar(0.5).length, progressBar(0.25).length);
});

void test("only the best epoch is marked", () => {
  const epochs = [1, 2, 3].map((epoch) => ({ epoch, valAcc: 0.9 + epoch / 100, timeS: 1 }));
  const value = fieldValue(renderJob({ ...base, epochs, best: { epoch: 2, valAcc: 0.92 } }).embed, "Epochs");
  const marked = value.split("\n").filter((line) => line.includes("★"));
  assert.deepEqual(marked, ["Epoch 2: val_acc 92.00% · 1.0 s ★ best"]);
});

void test("completion shows val_acc and run_id; failure shows kind, message and a hint for user errors", () => {
  const done = renderJob({ ...base, status: "completed", finalValAcc: 0.9812 }).embed;
  assert.equal(fieldValue(done, "Result"), "val_acc 98.12%\nRun run\\-1");
  const user = renderJob({ ...base, status: "failed", failure: { kind: "user", message: "epochs: 0 is too small" } }).embed;
  assert.match(fieldValue(user, "Error in the request"), /epochs\\: 0 is too small\nCheck the request/);
  const system = renderJob({ ...base, status: "failed", failure: { kind: "system", message: "disk full" } }).embed;
  assert.doesNotMatch(fieldValue(system, "System error"), /Check the request/);
});

void test("notes show the artifact, the upload with sizes, and the prune count", () => {
  const { embed } = renderJob({
    ...base,
    artifactPath: "digits",
    upload: { status: 0, modelBytes: 2_500_000, manifestBytes: 700 },
    prunedCount: 4,
  });
  assert.equal(
    fieldValue(embed, "Notes"),
    "Saved to digits/ in the artifacts root\nUpload: no response · model 2.4 MiB · manifest 700 B\nPruned 4 old snapshot files",
  );
});

void test("event text cannot format or mention", () => {
  assert.equal(
    escapeText("**bold** @everyone <@123> `x` [a](http://e)"),
    "\\*\\*bold\\*\\* @\u200beveryone \\<@\u200b123\\> \\`x\\` \\[a\\]\\(http\\://e\\)",
  );
  assert.equal(escapeText("line\n# heading"), "line \\# heading");
  const { embed } = renderJob({
    ...base,
    modelId: "@here",
    status: "failed",
    failure: { kind: "user", message: "> quote ||spoiler|| @everyone" },
  });
  const all = JSON.stringify(embed);
  assert.doesNotMatch(all, /@everyone|@here/);
  assert.doesNotMatch(all, /(?<!\\)\|\|/);
});

void test("escaping and clipping never split an escape or a surrogate pair", () => {
  const clipped = escapeText("*".repeat(100), 11);
  assert.ok(clipped.length <= 11);
  assert.match(clipped, /^(\\\*)+…$/);
  const emoji = escapeText("😀".repeat(10), 6);
  assert.equal(emoji, "😀😀…");
});

void test("worst case stays within Discord's limits, shortening the oldest epochs first", () => {
  const hostile = "@_*`|<>".repeat(100);
  const epochs = Array.from({ length: 200 }, (_, index) => ({ epoch: index + 1, valAcc: 0.5, timeS: 123456.7 }));
  const state: JobState = {
    ...base,
    requestId: hostile.slice(0, 128),
    modelId: hostile.slice(0, 128),
    runId: hostile.slice(0, 128),
    status: "failed",
    totalEpochs: 200,
    epochs,
    artifactPath: hostile.repeat(10),
    upload: { status: 599, modelBytes: Number.MAX_SAFE_INTEGER, manifestBytes: Number.MAX_SAFE_INTEGER },
    prunedCount: Number.MAX_SAFE_INTEGER,
    failure: { kind: "user", message: hostile.repeat(3).slice(0, 2000) },
  };
  const { embed } = renderJob(state);
  assertWithinLimits(embed);
  const lines = fieldValue(embed, "Epochs").split("\n");
  assert.match(lines[0] ?? "", /^… \d+ earlier epochs$/);
  assert.match(lines.at(-1) ?? "", /^Epoch 200:/, "the newest epoch is kept");
});

void test("a job that finished no epoch shows no 'Epoch 0/N'; one that started says how many epochs it will train", () => {
  const completedEarly: JobState = {
    ...base,
    status: "completed",
    lastBatch: null,
    epochs: [],
    best: null,
    totalEpochs: 1,
    finalValAcc: 0.5,
  };
  const description = renderJob(completedEarly).embed.description ?? "";
  assert.doesNotMatch(description, /Epoch 0/);
  assert.doesNotMatch(description, /epochs? to train/);
  const justStarted: JobState = { ...base, status: "started", lastBatch: null, epochs: [], best: null, totalEpochs: 1 };
  assert.match(renderJob(justStarted).embed.description ?? "", /1 epoch to train/);
  const failedMidway: JobState = { ...base, status: "failed", lastBatch: null, failure: { kind: "system", message: "worker lost" } };
  assert.match(renderJob(failedMidway).embed.description ?? "", /Epoch 1\/5/);
});

void test("a silent running job says since when (a Discord timestamp); a finished one never does", () => {
  const silentSinceMs = Date.UTC(2026, 10, 28, 16, 0, 0);
  assert.match(renderJob(base, { silentSinceMs }).embed.description ?? "", /No news from the worker since <t:1795881600:R>/);
  assert.doesNotMatch(renderJob({ ...base, status: "completed" }, { silentSinceMs }).embed.description ?? "", /No news/);
  assert.doesNotMatch(renderJob(base).embed.description ?? "", /No news/);
});
