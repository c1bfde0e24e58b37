// Edges of the message, the chart, escaping and sparklines that ordinary jobs do not reach.

import assert from "node:assert/strict";
import { test } from "node:test";
import { chartFor, chartRenderCount, renderChartPng } from "../src/view/chart.ts";
import { clip, escapeText } from "../src/view/escape.ts";
import { embedLength, epochsValue, renderJob, renderText } from "../src/view/render.ts";
import { bucket, sparkline } from "../src/view/sparkline.ts";
import type { JobState } from "../src/jobs/state.ts";
import { jobState } from "./fixtures.ts";

const base: JobState = jobState();

function fieldValue(state: JobState, name: string): string | undefined {
  return renderJob(state).embed.fields?.find((field) => field.name === name)?.value;
}

void test("upload sizes read as bytes, KiB or MiB, and a 2xx status says ok", () => {
  const notes = (modelBytes: number, manifestBytes: number, status = 201): string | undefined =>
    fieldValue({ ...base, upload: { status, modelBytes, manifestBytes } }, "Notes");
  assert.equal(notes(1023, 1024), "Upload: HTTP 201 (ok) · model 1023 B · manifest 1.0 KiB");
  assert.equal(notes(1024 * 1024 - 1, 1024 * 1024), "Upload: HTTP 201 (ok) · model 1024.0 KiB · manifest 1.0 MiB");
  assert.equal(notes(1536, 10, 500), "Upload: HTTP 500 · model 1.5 KiB · manifest 10 B");
  assert.equal(notes(1, 1, 199), "Upload: HTTP 199 · model 1 B · manifest 1 B");
});

void test("epoch lines that cannot fit even one line become a count, clipped to the room there is", () => {
  const epochs = Array.from({ length: 12 }, (_, index) => ({ epoch: index + 1, valAcc: 0.5, timeS: 1 }));
  const state: JobState = { ...base, epochs };
  assert.equal(epochsValue(state, 10), "… 12 epoc…");
  assert.equal(epochsValue(state, 12), "… 12 epochs");
  // One line fits: the newest one, after a count of the rest.
  const two = epochsValue(state, 60);
  assert.equal(two, "… 11 earlier epochs\nEpoch 12: val_acc 50.00% · 1.0 s");
  assert.equal(epochsValue(state, 0), "");
  assert.equal(epochsValue({ ...base, epochs: [] }, 100), null);
  // Epoch lines say what is unknown (legacy events have no time; val_acc may be null).
  assert.equal(epochsValue({ ...base, epochs: [{ epoch: 1, valAcc: null, timeS: null }] }, 100), "Epoch 1: val_acc n/a");
});

void test("over a smaller total, the epoch lines are shortened by halves until the embed fits", () => {
  const epochs = Array.from({ length: 60 }, (_, index) => ({ epoch: index + 1, valAcc: 0.5 + index / 200, timeS: 10 }));
  const state: JobState = { ...base, epochs };
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
  const { embed } = renderJob({ ...base, epochs }, {}, 1);
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
  const message = renderJob({ ...base, status: "completed", finalValAcc: 0.5, epochs: [{ epoch: 1, valAcc: 0.5, timeS: null }] });
  const text = renderText(message);
  const { embed } = message;
  assert.ok(text.startsWith(`## ${embed.title ?? "?"}\n${embed.description ?? "?"}\n`), text);
  assert.match(text, /\n\*\*Result\*\*\nval_acc 50\.00%\nRun run\\-1\n/);
  assert.match(text, /\n\*\*Epochs\*\*\nEpoch 1: val_acc 50\.00% ★ best$/);
  assert.equal(renderText({ embed: {} }), "## \n");
  assert.equal(renderText({ embed: { title: "T", fields: [{ name: "N", value: "V" }] } }), "## T\n\n**N**\nV");
});

void test("a job cancelled from Discord says who cancelled it, in grey; a user error with other text is an error", () => {
  const cancelled = renderJob({ ...base, status: "failed", failure: { kind: "user", message: "cancelled by user 123456789" } }).embed;
  assert.match(cancelled.title ?? "", /^Training cancelled · digits$/);
  assert.equal(cancelled.color, 0x99aab5);
  assert.equal(cancelled.fields?.[0]?.value, "Cancelled by <@123456789>; nothing more will run.");
  const system = renderJob({ ...base, status: "failed", failure: { kind: "system", message: "cancelled by user 123456789" } }).embed;
  assert.match(system.title ?? "", /^Training failed/);
  assert.equal(system.fields?.[0]?.name, "System error");
  const unknownTotal = renderJob({
    ...base,
    totalEpochs: null,
    lastBatch: { epoch: 1, batch: 2, totalBatches: 3, batchLoss: 1, batchAcc: 0.5, samplesPerSec: 1 },
  });
  assert.match(unknownTotal.embed.description ?? "", /Epoch 1\/\? · batch 2\/3/);
});

void test("escaping drops invisible format characters and clips to nothing when there is no room", () => {
  assert.equal(escapeText("a\u202eb\u200dc\ufeff"), "abc");
  assert.equal(escapeText("abc", 0), "");
  assert.equal(escapeText("abc", -1), "");
  assert.equal(escapeText("abcdef", 4), "abc…");
  assert.equal(escapeText("ab", 2), "ab");
});

void test("clip leaves short text alone and cuts long text before an escape, never inside it", () => {
  assert.equal(clip("hello", 5), "hello");
  assert.equal(clip("hello world", 5), "hell…");
  assert.equal(clip("ab\\*cd", 4), "ab…");
  assert.equal(clip("ab\\\\cd", 5), "ab\\\\…", "an escaped backslash stays whole");
  assert.equal(clip("hello", 0), "");
});

void test("sparklines keep one block per value even for losses near the largest double", () => {
  const id = (v: number): number => v;
  assert.equal(sparkline([0, 1e308, 1e308, 1e308], id, 2), "▁█");
  assert.deepEqual(bucket([1e308, 1e308], 1, id), [1e308]);
  assert.equal(sparkline([-1.7e308, 0, 1.7e308], id), "▁▅█");
  assert.equal(sparkline([0.5, 0.25, 1, 0], id), "▅▃█▁");
});

void test("the chart cache keeps the newest 64 pictures: the oldest is rendered again when asked", () => {
  const history = { epochs: [{ epoch: 1, valAcc: 0.9, trainLoss: 0.3 }], batchLoss: [{ at: 0.5, loss: 0.4 }] };
  const state = (index: number): JobState => ({ ...base, requestId: `cache-${index}`, runId: null, totalEpochs: 2, history });
  const first = chartFor(state(0));
  assert.ok(first !== undefined);
  const before = chartRenderCount();
  const png = first.png();
  for (let index = 1; index <= 64; index += 1) chartFor(state(index))?.png();
  assert.equal(chartRenderCount() - before, 65);
  // The newest stays cached; the first was evicted and is rendered again, to the same picture.
  chartFor(state(64))?.png();
  assert.equal(chartRenderCount() - before, 65);
  const again = chartFor(state(0))?.png();
  assert.equal(chartRenderCount() - before, 66);
  assert.ok(again !== undefined && Buffer.from(again).equals(Buffer.from(png)));
});

void test("without total_epochs the chart spans the epochs it has (or one, before any)", () => {
  const history = { epochs: [{ epoch: 2, valAcc: 0.9, trainLoss: 0.3 }], batchLoss: [{ at: 1.5, loss: 0.4 }] };
  const running = chartFor({ ...base, requestId: "no-total", totalEpochs: null, history });
  assert.equal(running?.key, "run-1:epoch-2");
  const expected = renderChartPng({ title: "Epoch 2/2", totalEpochs: 2, history });
  assert.ok(Buffer.from(running.png()).equals(Buffer.from(expected)));
  const early = { epochs: [], batchLoss: [{ at: 0.5, loss: 0.4 }] };
  const ended = chartFor({
    ...base,
    requestId: "no-total-early",
    runId: "run-early",
    status: "failed",
    totalEpochs: null,
    failure: { kind: "system", message: "x" },
    history: early,
  });
  assert.equal(ended?.key, "run-early:final");
  const stopped = renderChartPng({ title: "Stopped · 0/1 epochs", totalEpochs: 1, history: early });
  assert.ok(Buffer.from(ended.png()).equals(Buffer.from(stopped)));
});
