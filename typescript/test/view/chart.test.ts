// The chart PNG: its size, that it changes per epoch, its key, its cache (newest 64 pictures), and
// its span without total_epochs. The text sparklines are test/view/sparkline.test.ts's.

import assert from "node:assert/strict";
import { test } from "node:test";
import { PNG } from "pngjs";
import { CHART_HEIGHT, CHART_SCALE, CHART_WIDTH, chartFor, chartRenderCount, chartSvg, renderChartPng } from "../../src/view/chart.ts";
import { renderJob } from "../../src/view/render.ts";
import type { JobState } from "../../src/jobs/state.ts";
import { sampleRun } from "../../scripts/sample_run.ts";
import { foldStates, jobState } from "../support/fixtures.ts";

function decode(png: Uint8Array): PNG {
  return PNG.sync.read(Buffer.from(png));
}

const run = sampleRun({ epochs: 3, batchesPerEpoch: 40, every: 4 });

void test("the chart key changes only at each epoch end and at the end", () => {
  const keys = foldStates(run).map((state) => chartFor(state)?.key ?? null);
  const changes = keys.filter((key, index) => index === 0 || key !== keys[index - 1]);
  const prefix = "20261128T160000Z-sample";
  assert.deepEqual(changes, [null, `${prefix}:epoch-1`, `${prefix}:epoch-2`, `${prefix}:epoch-3`, `${prefix}:final`]);
  // Each change happens on the event that ends an epoch or the job, never on a batch.
  const all = foldStates(run);
  for (let i = 1; i < all.length; i += 1) {
    if (keys[i] !== keys[i - 1]) assert.match(run[i] ?? "", /digits\.train\.(epoch|completed)\.v1/);
  }
  const last = all.at(-1);
  assert.ok(last !== undefined);
  assert.equal(renderJob(last).chart?.key, `${prefix}:final`);
});

void test("the PNG decodes at the chart's size, on an opaque card, and changes between epochs", () => {
  const all = foldStates(run);
  const pngs = new Map<string, Uint8Array>();
  for (const state of all) {
    const chart = chartFor(state);
    if (chart !== undefined && !pngs.has(chart.key)) pngs.set(chart.key, chart.png());
  }
  assert.equal(pngs.size, 4);
  const images = [...pngs.values()].map(decode);
  for (const image of images) {
    assert.equal(image.width, CHART_WIDTH * CHART_SCALE);
    assert.equal(image.height, CHART_HEIGHT * CHART_SCALE);
    // Opaque everywhere, so Discord's light and dark backgrounds never show through.
    for (let alpha = 3; alpha < image.data.length; alpha += 4 * 97) assert.equal(image.data[alpha], 255);
  }
  for (let i = 1; i < images.length; i += 1) {
    assert.ok(!(images[i - 1]?.data.equals(images[i]?.data ?? Buffer.alloc(0)) ?? true), `picture ${i} equals picture ${i - 1}`);
  }
});

void test("a key's picture is rendered once, however often and from whichever state it is asked for", () => {
  const all = foldStates(sampleRun({ epochs: 2, batchesPerEpoch: 20, every: 5, runId: "run-cache" }));
  const firstEpochEnd = all.findIndex((state) => chartFor(state) !== undefined);
  const sameKey = all.slice(firstEpochEnd, firstEpochEnd + 3).map((state) => chartFor(state));
  assert.equal(new Set(sameKey.map((chart) => chart?.key)).size, 1, "a batch after the epoch end keeps the key");
  const before = chartRenderCount();
  const bytes = sameKey.map((chart) => chart?.png());
  assert.equal(chartRenderCount() - before, 1);
  assert.ok(bytes.every((png) => png === bytes[0]));
});

void test("no chart before the first epoch ends, none without v1 history, and a final one for a job that failed early", () => {
  const beforeEpoch = foldStates(run.slice(0, 5)).at(-1);
  assert.ok(beforeEpoch !== undefined);
  assert.equal(chartFor(beforeEpoch), undefined);
  assert.equal(renderJob(beforeEpoch).chart, undefined);
  const { history, ...legacy } = beforeEpoch;
  assert.ok(history !== undefined, "v1 events build a history");
  assert.equal(chartFor(legacy), undefined);
  const failed: JobState = { ...beforeEpoch, status: "failed", failure: { kind: "system", message: "out of memory" } };
  assert.match(chartFor(failed)?.key ?? "", /:final$/);
  assert.equal(decode(chartFor(failed)?.png() ?? new Uint8Array()).width, CHART_WIDTH * CHART_SCALE);
  const failedAtOnce: JobState = { ...failed, history: { epochs: [], batchLoss: [] } };
  assert.equal(chartFor(failedAtOnce), undefined);
  const noRun: JobState = { ...failed, runId: null };
  assert.equal(chartFor(noRun)?.key, "req-sample:final");
});

void test("the SVG holds only numbers we wrote: event text never reaches the picture", () => {
  const last = foldStates(run).at(-1);
  assert.ok(last !== undefined);
  const hostile: JobState = { ...last, modelId: "<svg onload=x>", requestId: "&amp;", runId: "</text>" };
  const svg = chartSvg({ title: "t", totalEpochs: 3, history: hostile.history ?? { epochs: [], batchLoss: [] } });
  assert.doesNotMatch(svg, /onload|&amp;|<\/text><\/text>/);
  // Many epochs thin the x-axis labels to about ten.
  const many = chartSvg({ title: "t", totalEpochs: 50, history: { epochs: [{ epoch: 1, valAcc: 0.05, trainLoss: 2 }], batchLoss: [] } });
  assert.equal((many.match(/text-anchor="middle">\d+</g) ?? []).length, 11);
  assert.match(many, />0%</, "an accuracy axis from 0 shows whole percents");
});

const base: JobState = jobState();

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
