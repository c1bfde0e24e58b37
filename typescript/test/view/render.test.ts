// The message that shows a job: title, colour, progress, epochs, notes and result, within
// Discord's limits, with event text that cannot format or mention.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { APIEmbed } from "discord-api-types/v10";
import { DISCORD_LIMITS } from "../../src/shared/limits.ts";
import { escapeText } from "../../src/view/escape.ts";
import { embedLength, epochsValue, progressBar, renderJob, renderText } from "../../src/view/render.ts";
import { BIG_USER_ID, completed, failed, foldAll, jobState, started } from "../support/fixtures.ts";
import type { JobState } from "../../src/jobs/state.ts";

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

const plainJob: JobState = jobState();

function fieldOfState(state: JobState, name: string): string | undefined {
  return renderJob(state).embed.fields?.find((field) => field.name === name)?.value;
}

void test("upload sizes read as bytes, KiB or MiB, and a 2xx status says ok", () => {
  const notes = (modelBytes: number, manifestBytes: number, status = 201): string | undefined =>
    fieldOfState({ ...plainJob, upload: { status, modelBytes, manifestBytes } }, "Notes");
  assert.equal(notes(1023, 1024), "Upload: HTTP 201 (ok) · model 1023 B · manifest 1.0 KiB");
  assert.equal(notes(1024 * 1024 - 1, 1024 * 1024), "Upload: HTTP 201 (ok) · model 1024.0 KiB · manifest 1.0 MiB");
  assert.equal(notes(1536, 10, 500), "Upload: HTTP 500 · model 1.5 KiB · manifest 10 B");
  assert.equal(notes(1, 1, 199), "Upload: HTTP 199 · model 1 B · manifest 1 B");
});

void test("epoch lines that cannot fit even one line become a count, clipped to the room there is", () => {
  const epochs = Array.from({ length: 12 }, (_, index) => ({ epoch: index + 1, valAcc: 0.5, timeS: 1 }));
  const state: JobState = { ...plainJob, epochs };
  assert.equal(epochsValue(state, 10), "… 12 epoc…");
  assert.equal(epochsValue(state, 12), "… 12 epochs");
  // One line fits: the newest one, after a count of the rest.
  const two = epochsValue(state, 60);
  assert.equal(two, "… 11 earlier epochs\nEpoch 12: val_acc 50.00% · 1.0 s");
  assert.equal(epochsValue(state, 0), "");
  assert.equal(epochsValue({ ...plainJob, epochs: [] }, 100), null);
  // Epoch lines say what is unknown (legacy events have no time; val_acc may be null).
  assert.equal(epochsValue({ ...plainJob, epochs: [{ epoch: 1, valAcc: null, timeS: null }] }, 100), "Epoch 1: val_acc n/a");
});

void test("over a smaller total, the epoch lines are shortened by halves until the embed fits", () => {
  const epochs = Array.from({ length: 60 }, (_, index) => ({ epoch: index + 1, valAcc: 0.5 + index / 200, timeS: 10 }));
  const state: JobState = { ...plainJob, epochs };
  const full = renderJob(state).embed;
  const fullEpochs = full.fields?.find((field) => field.name === "Epochs")?.value ?? "";
  assert.ok(fullEpochs.length > 900, `${fullEpochs.length}`);
  const total = embedLength(full) - fullEpochs.length + 300;
  const fitted = renderJob(state, {}, total).embed;
  assert.ok(embedLength(fitted) <= total, `${embedLength(fitted)} > ${total}`);
  const lines = (fitted.fields?.find((field) => field.name === "Epochs")?.value ?? "").split("\n");
  // Budget 1024 → 512 → 256: the newest epochs that fit in 256 characters.
  assert.ok(lines.join("\n").length <= 256 && lines.join("\n").length > 128, lines.join("\n"));
  assert.match(lines[0] ?? "", /^… \d+ earlier epochs$/);
  assert.match(lines.at(-1) ?? "", /^Epoch 60: /);
  // Nothing else was shortened.
  assert.equal(fitted.description, full.description);
  assert.equal(fitted.title, full.title);
});

void test("a total that nothing can meet stops at an empty epochs budget instead of looping", () => {
  const epochs = [{ epoch: 1, valAcc: 0.5, timeS: 10 }];
  const { embed } = renderJob({ ...plainJob, epochs }, {}, 1);
  assert.equal(embed.fields?.find((field) => field.name === "Epochs")?.value, "");
  assert.ok(embedLength(embed) > 1);
});

void test("embedLength counts title, description, footer and fields, and an empty embed is 0", () => {
  assert.equal(embedLength({}), 0);
  assert.equal(embedLength({ title: "abc" }), 3);
  assert.equal(embedLength({ description: "abcd", footer: { text: "ef" } }), 6);
  assert.equal(
    embedLength({
      title: "t",
      fields: [
        { name: "ab", value: "cde" },
        { name: "f", value: "g" },
      ],
    }),
    8,
  );
});

void test("renderText shows the title, the description and each field, and copes with missing parts", () => {
  const message = renderJob({ ...plainJob, status: "completed", finalValAcc: 0.5, epochs: [{ epoch: 1, valAcc: 0.5, timeS: null }] });
  const text = renderText(message);
  const { embed } = message;
  assert.ok(text.startsWith(`## ${embed.title ?? "?"}\n${embed.description ?? "?"}\n`), text);
  assert.match(text, /\n\*\*Result\*\*\nval_acc 50\.00%\nRun run\\-1\n/);
  assert.match(text, /\n\*\*Epochs\*\*\nEpoch 1: val_acc 50\.00% ★ best$/);
  assert.equal(renderText({ embed: {} }), "## \n");
  assert.equal(renderText({ embed: { title: "T", fields: [{ name: "N", value: "V" }] } }), "## T\n\n**N**\nV");
});

void test("a job cancelled from Discord says who cancelled it, in grey; a user error with other text is an error", () => {
  const cancelled = renderJob({ ...plainJob, status: "failed", failure: { kind: "user", message: "cancelled by user 123456789" } }).embed;
  assert.match(cancelled.title ?? "", /^Training cancelled · digits$/);
  assert.equal(cancelled.color, 0x99aab5);
  assert.equal(cancelled.fields?.[0]?.value, "Cancelled by <@123456789>; nothing more will run.");
  const system = renderJob({ ...plainJob, status: "failed", failure: { kind: "system", message: "cancelled by user 123456789" } }).embed;
  assert.match(system.title ?? "", /^Training failed/);
  assert.equal(system.fields?.[0]?.name, "System error");
  const unknownTotal = renderJob({
    ...plainJob,
    totalEpochs: null,
    lastBatch: { epoch: 1, batch: 2, totalBatches: 3, batchLoss: 1, batchAcc: 0.5, samplesPerSec: 1 },
  });
  assert.match(unknownTotal.embed.description ?? "", /Epoch 1\/\? · batch 2\/3/);
});

void describe("the Cancel button on the live message", () => {
  void test("a running job's message carries its Cancel button; an ended one removes it", () => {
    const running = renderJob(foldAll([started()]));
    assert.match(JSON.stringify(running.components), new RegExp(`"custom_id":"digits:cancel:${BIG_USER_ID}:req-1"`));
    assert.deepEqual(renderJob(foldAll([started(), completed()])).components, []);
    assert.deepEqual(renderJob(foldAll([started(), failed("system", "boom")])).components, []);
  });

  void test("a cancel reads as cancelled, by whom", () => {
    const embed = renderJob(foldAll([started(), failed("user", "cancelled by user 77")])).embed;
    assert.equal(embed.title, "Training cancelled · digits");
    assert.deepEqual(embed.fields?.[0], { name: "Cancelled", value: "Cancelled by <@77>; nothing more will run." });
    const other = renderJob(foldAll([started(), failed("user", "cancelled by user 77, then more")])).embed;
    assert.equal(other.title, "Training failed · digits");
  });
});
