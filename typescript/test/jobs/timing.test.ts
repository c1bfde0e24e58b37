// Elapsed time, the smoothed ETA and the chart history, all from event timestamps.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { APIEmbed } from "discord-api-types/v10";
import { duration, renderJob, timeLine } from "../../src/view/render.ts";
import { elapsedSeconds, etaSeconds, foldEvent, MAX_LOSS_POINTS, PACE_SMOOTHING } from "../../src/jobs/state.ts";
import { batch, completed, epochDone, ev, foldAll, legacyText, started } from "../support/fixtures.ts";

const T0 = Date.UTC(2026, 10, 28, 16, 0, 0);

const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();

function field(embed: APIEmbed, name: string): string | undefined {
  return embed.fields?.find((candidate) => candidate.name === name)?.value;
}

// 3 epochs of 100 batches; 1 s per batch, then 2 s per batch over the next 10.
const paced = [started({ ts: at(-5) }), batch(1, 10, { ts: at(0) }), batch(1, 20, { ts: at(10) }), batch(1, 30, { ts: at(30) })];

const expectedPace = 1 + (1 - (1 - PACE_SMOOTHING) ** 10) * (2 - 1);

void test("the ETA is the remaining batches at the smoothed pace, weighted by batches advanced", () => {
  const first = foldAll(paced.slice(0, 3));
  assert.equal(etaSeconds(first), 280);
  const state = foldAll(paced);
  assert.ok(Math.abs((etaSeconds(state) ?? 0) - 270 * expectedPace) < 1e-9);
  assert.equal(elapsedSeconds(state), 35);
  assert.equal(timeLine(state), `Elapsed 35s · ETA ${duration(270 * expectedPace)}`);
  assert.match(renderJob(state).embed.description ?? "", /Elapsed 35s · ETA 7m 26s/);
});

void test("re-delivered and out-of-order events change neither the pace nor the elapsed time", () => {
  const once = foldAll(paced);
  const twice = foldAll([...paced, paced[3] ?? "", paced[2] ?? "", paced[0] ?? ""]);
  assert.deepEqual(twice.timing, once.timing);
  assert.deepEqual(twice.history, once.history);
});

void test("before two batches the ETA is being measured; at the end the line says how long it took", () => {
  const early = foldAll(paced.slice(0, 2));
  assert.equal(etaSeconds(early), null);
  assert.equal(timeLine(early), "Elapsed 5s · ETA measuring…");
  const started0 = foldAll(paced.slice(0, 1));
  assert.equal(timeLine(started0), "Elapsed 0s · ETA measuring…");
  const done = foldAll([...paced, completed(0.98, { ts: at(125) })]);
  assert.equal(etaSeconds(done), null);
  assert.equal(timeLine(done), "Took 2m 10s");
  const legacy = foldAll([legacyText("started", { total_epochs: 2 })]);
  assert.equal(timeLine(legacy), null);
  assert.equal(etaSeconds(legacy), null);
  assert.doesNotMatch(renderJob(legacy).embed.description ?? "", /Elapsed/);
});

void test("an event time that cannot be read leaves the timing as it was", () => {
  const state = foldAll(paced);
  const decoded = ev(batch(1, 40, { ts: at(40) }));
  assert.equal(decoded.kind, "v1");
  const result = foldEvent(state, { kind: "v1", event: { ...decoded.event, ts: "not a time" } });
  assert.equal(result.kind, "updated");
  assert.deepEqual(result.state.timing, state.timing);
});

void test("durations read as seconds, minutes or hours", () => {
  assert.deepEqual(
    [duration(-3), duration(42.4), duration(185), duration(7620), duration(36000)],
    ["0s", "42s", "3m 05s", "2h 07m", "10h 00m"],
  );
});

void test("the history keeps each epoch once and a bounded, ordered batch loss curve", () => {
  const batches = Array.from({ length: 3 * MAX_LOSS_POINTS }, (_, i) =>
    batch(1 + Math.floor(i / 1000), (i % 1000) + 1, { total_batches: 1000, batch_loss: 1 / (i + 1), ts: at(i) }),
  );
  const state = foldAll([
    started({ ts: at(-1) }),
    ...batches,
    epochDone(1, 0.9, { train_loss: 0.5, ts: at(5000) }),
    epochDone(1, 0.9, { train_loss: 0.5, ts: at(5001) }),
    epochDone(2, 0.95, { train_loss: 0.3, ts: at(5002) }),
  ]);
  const history = state.history;
  assert.ok(history !== undefined);
  assert.deepEqual(history.epochs, [
    { epoch: 1, valAcc: 0.9, trainLoss: 0.5 },
    { epoch: 2, valAcc: 0.95, trainLoss: 0.3 },
  ]);
  assert.ok(history.batchLoss.length <= MAX_LOSS_POINTS && history.batchLoss.length > MAX_LOSS_POINTS / 4);
  for (let i = 1; i < history.batchLoss.length; i += 1) assert.ok((history.batchLoss[i]?.at ?? 0) > (history.batchLoss[i - 1]?.at ?? 0));
  assert.equal(history.batchLoss.at(-1)?.at, (3 * MAX_LOSS_POINTS) / 1000, "the newest point is always kept");
  // The sparklines show the same series for clients that hide images.
  const trend = field(renderJob(state).embed, "Trend") ?? "";
  const newest = (1 / (3 * MAX_LOSS_POINTS)).toFixed(4);
  assert.match(trend, new RegExp(`^val_acc [▁-█]{2} 95\\.00%\nbatch loss [▁-█]{24} ${newest.replace(".", "\\.")}$`, "u"));
});
