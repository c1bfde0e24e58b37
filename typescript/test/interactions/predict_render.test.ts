// /predict's answer: the digit, the probabilities and the picture the model saw.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { DigitsPredictResultV1 } from "../../src/generated/contracts.ts";
import { predictAnswer } from "../../src/interactions/predict_render.ts";

function result(fields: Partial<DigitsPredictResultV1>): DigitsPredictResultV1 {
  return {
    type: "digits.predict.result.v1",
    request_id: "p",
    user_id: 1n,
    model_id: "digits",
    outcome: "predicted",
    reason: null,
    probabilities: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
    run_id: null,
    val_acc: null,
    input_png_base64: null,
    ts: "2026-12-06T02:00:00Z",
    ...fields,
  };
}

void test("answers: a tie reads the lowest digit; a result without run, val_acc or reason still reads", () => {
  const answer = predictAnswer(result({}));
  assert.ok(typeof answer !== "string");
  assert.equal(answer.content, "Reads 0 (10.0%)");
  assert.deepEqual(answer.embed.fields, [{ name: "Model", value: "digits" }]);
  assert.equal(predictAnswer(result({ outcome: "refused" })), "Could not read the picture: no reason given.");
  assert.equal(predictAnswer(result({ probabilities: null })), "No prediction: no reason given.");
  assert.equal(predictAnswer(result({ outcome: "failed", reason: "*bold* @everyone" })), "No prediction: \\*bold\\* @\u200beveryone.");
});
