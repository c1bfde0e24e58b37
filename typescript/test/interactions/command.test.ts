// The commands as registered with Discord: options derived from the request schemas, /predict's
// picture first, /jobs' all for admins.

import assert from "node:assert/strict";
import { test } from "node:test";
import { allCommands, commandOptions, jobsCommand, predictCommand } from "../../src/interactions/command.ts";

void test("the command's options follow any request schema; a field no option can take is refused by name", () => {
  const options = commandOptions({
    properties: {
      type: { type: "string" },
      label: { type: "string", minLength: 2, maxLength: 40, description: "A label." },
      tag: { anyOf: [{ type: "null" }, { type: "string", maxLength: 9000 }] },
      count: { anyOf: [{ type: "integer" }, { type: "null" }], minimum: 1, description: "x".repeat(200) },
    },
  });
  assert.deepEqual(options, [
    { name: "label", description: "A label", required: false, type: 3, min_length: 2, max_length: 40 },
    { name: "tag", description: "", required: false, type: 3, max_length: 6000 },
    { name: "count", description: `${"x".repeat(99)}…`, required: false, type: 4, min_value: 1 },
  ]);
  assert.throws(
    () => commandOptions({ properties: { sizes: { type: "array", items: { type: "integer" } } } }),
    /^Error: digits\.train\.v1 field sizes has type array, which \/train cannot offer$/,
  );
  assert.throws(() => commandOptions({ properties: { odd: { anyOf: [{ type: "null" }] } } }), /field odd has type undefined/);
});

void test("/predict and /jobs as registered: the picture required first, model_id from the schema, all for admins", () => {
  const predict = predictCommand();
  assert.equal(predict.name, "predict");
  assert.deepEqual(predict.options, [
    { name: "image", description: "A photo or drawing of one digit, PNG or JPEG, at most 2 MB", type: 11, required: true },
    {
      name: "model_id",
      description: "Model to ask, by the model_id it was trained under; its latest finished run reads … (default digits)",
      required: false,
      type: 3,
      max_length: 6000,
    },
  ]);
  assert.deepEqual(jobsCommand().options, [{ name: "all", description: "Admins only: everyone's jobs", type: 5, required: false }]);
  assert.deepEqual(
    allCommands().map((command) => command.name),
    ["train", "predict", "jobs"],
  );
});
