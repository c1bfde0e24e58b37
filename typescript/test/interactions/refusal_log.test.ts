// Refused interactions requests under a flood: one line at once, then one summary per interval
// keyed by the refusal (two fixed kinds), never by address; a quiet spell logs the next at once.

import assert from "node:assert/strict";
import { test } from "node:test";
import { RefusalLog } from "../../src/interactions/refusal_log.ts";
import { recorder } from "../support/log_recorder.ts";

void test("ten thousand refusals make one line at once and one summary after the interval", async () => {
  const { logger, lines } = recorder();
  const log = new RefusalLog(logger, 30);
  for (let n = 0; n < 10_000; n += 1) log.record(n % 4 === 0 ? "stale timestamp" : "bad signature");
  assert.deepEqual(lines, [
    "warn interactions: refused a request (stale timestamp); more refusals are counted and reported at most every 0 s",
  ]);
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.deepEqual(lines.slice(1), ["warn interactions: refused 9999 more request(s): 7500 × bad signature; 2499 × stale timestamp"]);
  log.record("bad signature");
  assert.equal(lines.length, 3, "after a quiet spell the next refusal is logged at once");
  log.record("bad signature");
  log.close();
  assert.equal(lines.at(-1), "warn interactions: refused 1 more request(s): 1 × bad signature", "closing reports what is counted");
  log.close();
  assert.equal(lines.length, 4, "nothing new to report");
});
