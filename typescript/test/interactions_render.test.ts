// The live message and the Cancel button: on while the job runs, gone when it ends; a cancel
// (failed, user, "cancelled by user N") reads as cancelled, by whom.

import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeEvent } from "../src/events/decode.ts";
import { renderJob } from "../src/view/render.ts";
import { foldEvent, type JobState } from "../src/jobs/state.ts";
import { BIG_USER_ID, completed, failed, started } from "./fixtures.ts";

function fold(...texts: string[]): JobState {
  let state: JobState | undefined;
  for (const text of texts) {
    const decoded = decodeEvent(text);
    assert.notEqual(decoded.kind, "invalid", text);
    if (decoded.kind === "invalid") continue;
    const result = foldEvent(state, decoded);
    if (result.kind === "updated") state = result.state;
  }
  assert.ok(state !== undefined);
  return state;
}

void test("a running job's message carries its Cancel button; an ended one removes it", () => {
  const running = renderJob(fold(started()));
  assert.match(JSON.stringify(running.components), new RegExp(`"custom_id":"digits:cancel:${BIG_USER_ID}:req-1"`));
  assert.deepEqual(renderJob(fold(started(), completed())).components, []);
  assert.deepEqual(renderJob(fold(started(), failed("system", "boom"))).components, []);
});

void test("a cancel reads as cancelled, by whom", () => {
  const embed = renderJob(fold(started(), failed("user", "cancelled by user 77"))).embed;
  assert.equal(embed.title, "Training cancelled · digits");
  assert.deepEqual(embed.fields?.[0], { name: "Cancelled", value: "Cancelled by <@77>; nothing more will run." });
  const other = renderJob(fold(started(), failed("user", "cancelled by user 77, then more"))).embed;
  assert.equal(other.title, "Training failed · digits");
});
