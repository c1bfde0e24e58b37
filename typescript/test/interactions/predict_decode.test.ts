// The worker's answer to /predict, decoded as the schema says, or invalid saying why.

import assert from "node:assert/strict";
import { test } from "node:test";
import { decodePredictResult } from "../../src/interactions/predict_decode.ts";

void test("a result that is not JSON is invalid, saying so", () => {
  const decoded = decodePredictResult("{not json");
  assert.match(decoded.kind === "invalid" ? decoded.reason : "accepted", /^not JSON/);
});
