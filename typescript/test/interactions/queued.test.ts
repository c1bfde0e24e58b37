// The Queued message /train posts: what was asked, how many jobs are ahead, and its Cancel button.

import assert from "node:assert/strict";
import { test } from "node:test";
import { TRAIN_DEFAULTS } from "../../src/interactions/settings.ts";
import { queuedMessage } from "../../src/interactions/queued.ts";
import type { DigitsTrainV1 } from "../../src/generated/contracts.ts";
import { OWNER } from "../support/interactions_support.ts";

void test("the Queued message: what was asked, how many are ahead, no button when the id is too long for one", () => {
  const request: DigitsTrainV1 = { type: "digits.train.v1", request_id: "r", user_id: OWNER, ...TRAIN_DEFAULTS, notes: null };
  const one = queuedMessage(request, 1);
  assert.equal(
    one.embed?.description,
    "1 job ahead of it (queued or running)\nEpochs 5 · batch 64 · lr 0.01 · seed 0 · augment on\nRequest r",
  );
  assert.equal(one.components?.length, 1);
  const off = queuedMessage({ ...request, augment: false, notes: "try *this*" }, 3);
  assert.equal(
    off.embed?.description,
    "3 jobs ahead of it (queued or running)\nEpochs 5 · batch 64 · lr 0.01 · seed 0 · augment off\nRequest r\nNotes: try \\*this\\*",
  );
  const long = queuedMessage({ ...request, request_id: "x".repeat(90) }, 0);
  assert.equal(long.components, undefined);
  assert.match(long.embed?.description ?? "", /^Next in line\n/);
  assert.equal(long.nonce, `q${"x".repeat(24)}`);
});
