// A job that sends the legacy compact events beside v1 (EVENTS__LEGACY=true, or the old trainer)
// is shown as v1 tells it, in whatever order the two arrive ("preferring .v1"); a legacy-only job
// is folded from its legacy events to its final state.

import assert from "node:assert/strict";
import { test } from "node:test";
import { foldRuns } from "../../src/jobs/job.ts";
import { renderJob, renderText } from "../../src/view/render.ts";
import type { JobState } from "../../src/jobs/state.ts";
import { BIG_USER_ID, completed, epochDone, ev, failed, legacyText, started } from "../support/fixtures.ts";

const legacy = (type: string, fields: Record<string, string | number | null>): string => legacyText(type, fields, BIG_USER_ID);

function runsOf(texts: readonly string[]): JobState[] {
  const runs: JobState[] = [];
  for (const text of texts) foldRuns(runs, ev(text));
  return runs;
}

void test("a legacy-only job reaches its final state in one run", () => {
  const runs = runsOf([
    legacy("started", { total_epochs: 2 }),
    legacy("progress", { epoch: 1, total_epochs: 2, val_acc: 0.9 }),
    legacy("progress", { epoch: 2, total_epochs: 2, val_acc: 0.95 }),
    legacy("completed", { run_id: "run-1", val_acc: 0.95 }),
  ]);
  assert.equal(runs.length, 1);
  const state = stateOf(runs[0]);
  assert.equal(state.source, "legacy");
  assert.equal(state.status, "completed");
  assert.deepEqual(
    state.epochs.map((line) => line.epoch),
    [1, 2],
  );
});

void test("v1 first then each legacy twin (as a worker with EVENTS__LEGACY sends them): the v1 view, no doubled epoch line", () => {
  const runs = runsOf([
    started({ total_epochs: 2 }),
    legacy("started", { total_epochs: 2 }),
    epochDone(1, 0.9, { total_epochs: 2 }),
    legacy("progress", { epoch: 1, total_epochs: 2, val_acc: 0.9 }),
    epochDone(2, 0.95, { total_epochs: 2 }),
    legacy("progress", { epoch: 2, total_epochs: 2, val_acc: 0.95 }),
    completed(0.95),
    legacy("completed", { run_id: "run-1", val_acc: 0.95 }),
  ]);
  assert.equal(runs.length, 1);
  const state = stateOf(runs[0]);
  assert.equal(state.source, "v1");
  assert.equal(state.status, "completed");
  assert.deepEqual(
    state.epochs.map((line) => [line.epoch, line.timeS]),
    [
      [1, 12.34],
      [2, 12.34],
    ],
  );
  assert.equal(renderText(renderJob(state)).match(/Epoch 1:/g)?.length, 1);
});

void test("every legacy event first, its terminal included, then the v1 ones: still one run, shown as v1 tells it", () => {
  for (const [legacyEnd, v1End] of [
    [legacy("completed", { run_id: "run-1", val_acc: 0.95 }), completed(0.95)],
    [legacy("failed", { error_kind: "system", message: "worker lost" }), failed("system", "worker lost")],
  ] as const) {
    const runs = runsOf([
      legacy("started", { total_epochs: 1 }),
      legacy("progress", { epoch: 1, total_epochs: 1, val_acc: 0.95 }),
      legacyEnd,
      started({ total_epochs: 1 }),
      epochDone(1, 0.95, { total_epochs: 1 }),
      v1End,
    ]);
    assert.equal(runs.length, 1, legacyEnd);
    const state = stateOf(runs[0]);
    assert.equal(state.source, "v1");
    assert.equal(state.epochs[0]?.timeS, 12.34); // the v1 line (legacy lines have no time)
    assert.ok(state.status === "completed" || state.status === "failed");
  }
});

void test("a v1 run that ended is still followed by a new run on a new started (an RQ requeue)", () => {
  const runs = runsOf([started(), failed("system", "worker lost"), started({ run_id: null })]);
  assert.equal(runs.length, 2);
});

function stateOf(state: JobState | undefined): JobState {
  if (state === undefined) throw new Error("no run");
  return state;
}
