// Edges of the reducer, the job keys and request decoding that ordinary jobs do not reach.

import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_EPOCH_LINES } from "../src/shared/limits.ts";
import { decodeEvent, decodeTrainRequest } from "../src/events/decode.ts";
import { foldRuns, messageKeyFor, userOfMessageKey } from "../src/jobs/job.ts";
import { renderJob } from "../src/view/render.ts";
import { elapsedSeconds, foldEvent, type JobState } from "../src/jobs/state.ts";
import { BIG_USER_ID, epochDone, legacyText, started, ev, foldAll } from "./fixtures.ts";

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

void test("a message key names its user; a key that does not start with a user id names none", () => {
  assert.equal(userOfMessageKey(messageKeyFor(BigInt(BIG_USER_ID), "req:1", 2)), BigInt(BIG_USER_ID));
  assert.equal(messageKeyFor(7n, "r", 2), "7:r#2");
  assert.equal(userOfMessageKey("no-user:req"), null);
  assert.equal(userOfMessageKey(":req"), null);
  assert.equal(userOfMessageKey("123456789012345678901:req"), null, "more digits than a Discord id");
});

void test("a job request that is not JSON, or breaks several rules, says why", () => {
  assert.match(reason(decodeTrainRequest('{"type":')), /^not JSON: /);
  assert.equal(
    reason(
      decodeTrainRequest(
        `{"type":"digits.train.v1","request_id":"r","user_id":${BIG_USER_ID},"model_id":"digits","epochs":0,"batch_size":0,"lr":0.001,"seed":0,"augment":false,"notes":null}`,
      ),
    ).replace(/:.*\(/, ": … ("),
    "epochs: … (+1 more)",
  );
  assert.match(reason(decodeEvent(`{"type":"digits.train.started.v1","user_id":${BIG_USER_ID}}`)), /^[a-z_]+: .*\(\+\d+ more\)$/);
});

function reason(result: { readonly kind: string; readonly reason?: string }): string {
  assert.equal(result.kind, "invalid");
  return result.reason ?? "";
}

void test("legacy events, which carry no run_id, go to the job's newest run", () => {
  const runs: JobState[] = [];
  assert.equal(foldRuns(runs, ev(legacyText("started", { total_epochs: 2 }))), 0);
  assert.equal(foldRuns(runs, ev(legacyText("progress", { epoch: 1, total_epochs: 2, val_acc: 0.5 }))), 0);
  assert.equal(runs.length, 1);
  assert.equal(runs[0]?.epochs.length, 1);
});
