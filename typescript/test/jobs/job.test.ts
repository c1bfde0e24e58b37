// A job's keys (user and request, run) and foldRuns: which run each event belongs to.

import assert from "node:assert/strict";
import { test } from "node:test";
import { foldRuns, messageKeyFor, userOfMessageKey } from "../../src/jobs/job.ts";
import { type JobState } from "../../src/jobs/state.ts";
import { BIG_USER_ID, ev, legacyText } from "../support/fixtures.ts";

void test("a message key names its user; a key that does not start with a user id names none", () => {
  assert.equal(userOfMessageKey(messageKeyFor(BigInt(BIG_USER_ID), "req:1", 2)), BigInt(BIG_USER_ID));
  assert.equal(messageKeyFor(7n, "r", 2), "7:r#2");
  assert.equal(userOfMessageKey("no-user:req"), null);
  assert.equal(userOfMessageKey(":req"), null);
  assert.equal(userOfMessageKey("123456789012345678901:req"), null, "more digits than a Discord id");
});

void test("legacy events, which carry no run_id, go to the job's newest run", () => {
  const runs: JobState[] = [];
  assert.equal(foldRuns(runs, ev(legacyText("started", { total_epochs: 2 }))), 0);
  assert.equal(foldRuns(runs, ev(legacyText("progress", { epoch: 1, total_epochs: 2, val_acc: 0.5 }))), 0);
  assert.equal(runs.length, 1);
  assert.equal(runs[0]?.epochs.length, 1);
});
