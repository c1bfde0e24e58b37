// The reducer of one run: statuses, progress, the best epoch, and what it ignores.

import assert from "node:assert/strict";
import { test } from "node:test";
import { foldRuns } from "../../src/jobs/job.ts";
import { bestEpoch, elapsedSeconds, foldEvent, type JobState, progressFraction } from "../../src/jobs/state.ts";
import { batch, best, completed, epochDone, ev, eventText, failed, foldAll, legacyText, started } from "../support/fixtures.ts";
import { MAX_EPOCH_LINES } from "../../src/shared/limits.ts";
import { renderJob } from "../../src/view/render.ts";

void test("a v1 job goes started -> training -> completed with its details", () => {
  const s0 = foldAll([started()]);
  assert.equal(s0.status, "started");
  assert.equal(s0.totalEpochs, 3);
  assert.equal(progressFraction(s0), 0);
  const s1 = foldAll([started(), batch(2, 50)]);
  assert.equal(s1.status, "training");
  assert.equal(s1.lastBatch?.batch, 50);
  assert.ok(Math.abs(progressFraction(s1) - 1.5 / 3) < 1e-9);
  const s2 = foldAll([started(), epochDone(1, 0.9), best(1, 0.9), epochDone(2, 0.95), best(2, 0.95), epochDone(3, 0.94), completed(0.95)]);
  assert.equal(s2.status, "completed");
  assert.deepEqual(
    s2.epochs.map((line) => line.epoch),
    [1, 2, 3],
  );
  assert.equal(bestEpoch(s2), 2);
  assert.equal(s2.finalValAcc, 0.95);
  assert.equal(progressFraction(s2), 1);
});

void test("run_id that appears late does not split or reset the job; null never erases it", () => {
  const state = foldAll([started({ run_id: null }), batch(1, 1, { run_id: "run-9" }), batch(1, 2, { run_id: null })]);
  assert.equal(state.runId, "run-9");
  assert.equal(state.lastBatch?.batch, 2);
});

void test("events after a terminal event are ignored", () => {
  const done = foldAll([started(), failed("user", "epochs: 0 is less than the minimum of 1")]);
  assert.equal(done.status, "failed");
  assert.deepEqual(foldEvent(done, ev(batch(1, 1))), { kind: "ignored", reason: "after-terminal" });
  assert.deepEqual(foldEvent(done, ev(completed())), { kind: "ignored", reason: "after-terminal" });
});

void test("legacy events show a legacy-only job, and are ignored once the job sent v1", () => {
  const legacy = foldAll([
    legacyText("started", { total_epochs: 2 }),
    legacyText("progress", { epoch: 1, total_epochs: 2, val_acc: null }),
  ]);
  assert.equal(legacy.source, "legacy");
  assert.equal(legacy.status, "training");
  assert.equal(legacy.epochs[0]?.valAcc, null);
  assert.equal(progressFraction(legacy), 0.5);

  const v1 = foldAll([started()]);
  assert.deepEqual(foldEvent(v1, ev(legacyText("completed", { run_id: "r", val_acc: 0.5 }))), {
    kind: "ignored",
    reason: "legacy-after-v1",
  });

  // A v1 event after legacy ones takes over and drops what legacy built.
  const switched = foldEvent(legacy, ev(batch(1, 10)));
  assert.equal(switched.kind === "updated" ? switched.state.source : null, "v1");
  assert.equal(switched.kind === "updated" ? switched.state.epochs.length : null, 0);
});

void test("legacy completed carries run_id and val_acc", () => {
  const state = foldAll([legacyText("started", { total_epochs: 1 }), legacyText("completed", { run_id: "run-7", val_acc: 0.97 })]);
  assert.equal(state.status, "completed");
  assert.equal(state.runId, "run-7");
  assert.equal(state.finalValAcc, 0.97);
});

void test("an epoch sent twice replaces its line; lines stay ordered", () => {
  const state = foldAll([epochDone(2, 0.9), epochDone(1, 0.8), epochDone(2, 0.91)]);
  assert.deepEqual(
    state.epochs.map((line) => [line.epoch, line.valAcc]),
    [
      [1, 0.8],
      [2, 0.91],
    ],
  );
  assert.equal(bestEpoch(state), 2, "without best events the highest val_acc is best");
});

void test("artifact, upload and prune notes are kept", () => {
  const state = foldAll([
    eventText("digits.train.artifact.v1", { path: "artifacts/digits" }),
    eventText("digits.train.upload.v1", { status: 201, model_bytes: 1_234_567, manifest_bytes: 512 }),
    eventText("digits.train.prune.v1", { deleted_count: 4 }),
  ]);
  assert.equal(state.artifactPath, "artifacts/digits");
  assert.deepEqual(state.upload, { status: 201, modelBytes: 1_234_567, manifestBytes: 512 });
  assert.equal(state.prunedCount, 4);
});

void test("foldRuns: a started with a new run_id begins a new run; events find their run by run_id", () => {
  const runs: JobState[] = [];
  assert.equal(foldRuns(runs, ev(started({ run_id: "run-a" }))), 0);
  assert.equal(foldRuns(runs, ev(completed(0.98, { run_id: "run-a" }))), 0);
  assert.equal(foldRuns(runs, ev(completed(0.98, { run_id: "run-a" }))), null, "a redelivered terminal event changes nothing");
  assert.equal(foldRuns(runs, ev(started({ run_id: "run-a" }))), null, "a redelivered started of an ended run changes nothing");
  assert.equal(foldRuns(runs, ev(started({ run_id: "run-b" }))), 1, "a requeue's run is a new run");
  assert.equal(foldRuns(runs, ev(batch(1, 1, { run_id: "run-b" }))), 1);
  assert.equal(foldRuns(runs, ev(failed("system", "worker lost", { run_id: null }))), 1, "no run_id: the newest run");
  assert.deepEqual(
    runs.map((run) => run.status),
    ["completed", "failed"],
  );
});

void test("foldRuns: a job that failed before it had a run_id still shows a later run", () => {
  const runs: JobState[] = [];
  assert.equal(foldRuns(runs, ev(failed("system", "worker lost", { run_id: null }))), 0);
  assert.equal(foldRuns(runs, ev(started({ run_id: "run-a" }))), 1);
  assert.equal(runs[1]?.status, "started");
});

void test("foldRuns: a running run without run_id takes the started that gives it one", () => {
  const runs: JobState[] = [];
  assert.equal(foldRuns(runs, ev(batch(1, 1, { run_id: null }))), 0);
  assert.equal(foldRuns(runs, ev(started({ run_id: "run-a" }))), 0);
  assert.equal(runs.length, 1);
});

void test("an older batch event delivered late does not move the progress back", () => {
  const runs: JobState[] = [];
  foldRuns(runs, ev(batch(1, 5)));
  foldRuns(runs, ev(batch(1, 3)));
  assert.equal(runs[0]?.lastBatch?.batch, 5);
  foldRuns(runs, ev(batch(2, 1)));
  assert.equal(runs.at(0)?.lastBatch?.epoch, 2);
});

void test("a legacy job that fails shows the failure, and nothing after it changes the job", () => {
  const state = foldAll([
    legacyText("started", { total_epochs: 2 }),
    legacyText("failed", { error_kind: "user", message: "epochs: 0 is too small" }),
  ]);
  assert.equal(state.status, "failed");
  assert.equal(state.source, "legacy");
  assert.deepEqual(state.failure, { kind: "user", message: "epochs: 0 is too small" });
  assert.deepEqual(foldEvent(state, ev(legacyText("progress", { epoch: 1, total_epochs: 2, val_acc: 0.5 }))), {
    kind: "ignored",
    reason: "after-terminal",
  });
  assert.match(renderJob(state).embed.title ?? "", /^Training failed/);
});

void test("a job keeps only the newest MAX_EPOCH_LINES epoch lines, in order", () => {
  const total = MAX_EPOCH_LINES + 3;
  const events = Array.from({ length: total }, (_, index) => epochDone(index + 1, 0.5, { total_epochs: total }));
  const state = foldAll(events);
  assert.equal(state.epochs.length, MAX_EPOCH_LINES);
  assert.equal(state.epochs[0]?.epoch, 4);
  assert.equal(state.epochs.at(-1)?.epoch, total);
  assert.equal(state.history?.epochs.length, MAX_EPOCH_LINES);
  // An old epoch sent again after it was dropped comes back in order and pushes the oldest out.
  const again = foldAll([...events, epochDone(2, 0.9, { total_epochs: total })]);
  assert.deepEqual(
    again.epochs.slice(0, 2).map((line) => line.epoch),
    [4, 5],
    "the re-sent epoch 2 is the oldest, so it is the one dropped",
  );
});

void test("a first event whose time cannot be read gives a job with no timing, that later events time", () => {
  const decoded = ev(started());
  assert.equal(decoded.kind, "v1");
  const untimed = foldAll([{ kind: "v1", event: { ...decoded.event, ts: "not a time" } }]);
  assert.equal(untimed.timing, undefined);
  assert.equal(elapsedSeconds(untimed), null);
  assert.deepEqual(untimed.history, { epochs: [], batchLoss: [] });
  assert.doesNotMatch(renderJob(untimed).embed.description ?? "", /Elapsed/);
  const timed = foldEvent(untimed, ev(started()));
  assert.equal(timed.kind === "updated" ? elapsedSeconds(timed.state) : "ignored", 0);
});
