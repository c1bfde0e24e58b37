// The shared test vectors (../tests/vectors): every verdict must equal the Python suite's.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { z } from "zod";
import { decodeEvent, decodeTrainRequest } from "../../src/events/decode.ts";
import { type Decoded, decodePredictRequest, decodePredictResult } from "../../src/interactions/predict_decode.ts";

const VECTORS_DIR = join(import.meta.dirname, "..", "..", "..", "tests", "vectors");

const REQUEST_SCHEMA = "digits.train.v1.json";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The prediction messages: not events, each with its own decoder. */
const PREDICT_DECODERS = new Map<string, (text: string) => Decoded<{ readonly user_id: bigint }>>([
  ["digits.predict.v1.json", decodePredictRequest],
  ["digits.predict.result.v1.json", decodePredictResult],
]);

const VectorFile = z.object({
  schema: z.string(),
  vectors: z
    .array(z.object({ name: z.string(), valid: z.boolean(), text: z.string(), expect: z.record(z.string(), z.string()).optional() }))
    .min(1),
});

/** A decoded value as JSON text, as the vectors' `expect` writes it (Python: json.dumps). */
function jsonText(value: unknown): string {
  return typeof value === "bigint" ? value.toString() : JSON.stringify(value);
}

/** The fields a vector expects, as decoded here. */
function decodedFields(fields: Readonly<Record<string, unknown>>, expect: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.keys(expect).map((key) => [key, jsonText(fields[key])]));
}

let expectations = 0;

const files = readdirSync(VECTORS_DIR)
  .filter((name) => name.endsWith(".json"))
  .sort();

void test("vector files exist", () => {
  assert.ok(files.length >= 14, `expected a file per schema in ${VECTORS_DIR}, found ${files.length}`);
});

for (const file of files) {
  const { schema, vectors } = VectorFile.parse(JSON.parse(readFileSync(join(VECTORS_DIR, file), "utf8")));
  void test(`vectors of ${schema}`, () => {
    let bigIds = 0;
    for (const vector of vectors) {
      const label = `${file} / ${vector.name}`;
      let userId: bigint;
      const predict = PREDICT_DECODERS.get(schema);
      if (predict !== undefined) {
        const result = predict(vector.text);
        assert.equal(result.kind === "ok", vector.valid, `${label}: ${result.kind === "invalid" ? result.reason : "accepted"}`);
        if (result.kind === "invalid") continue;
        userId = result.message.user_id;
        if (vector.expect !== undefined) {
          assert.deepEqual(decodedFields({ ...result.message }, vector.expect), vector.expect, label);
          expectations += 1;
        }
      } else if (schema === REQUEST_SCHEMA) {
        const result = decodeTrainRequest(vector.text);
        assert.equal(result.kind === "ok", vector.valid, `${label}: ${result.kind === "invalid" ? result.reason : "accepted"}`);
        if (result.kind === "invalid") continue;
        userId = result.request.user_id;
        if (vector.expect !== undefined) {
          assert.deepEqual(decodedFields({ ...result.request }, vector.expect), vector.expect, label);
          expectations += 1;
        }
      } else {
        const result = decodeEvent(vector.text);
        assert.equal(result.kind !== "invalid", vector.valid, `${label}: ${result.kind === "invalid" ? result.reason : "accepted"}`);
        if (result.kind === "invalid") continue;
        // The decoded event must be of the schema the file is about.
        assert.equal(`${result.kind === "v1" ? result.event.type : `legacy.${result.event.type}`}.json`, schema, label);
        userId = result.event.user_id;
        if (vector.expect !== undefined) {
          assert.deepEqual(decodedFields({ ...result.event }, vector.expect), vector.expect, label);
          expectations += 1;
        }
      }
      // A user_id written as a plain integer keeps every digit (one written 42.0 is a double: see its expect).
      const digits = /"user_id":\s*([0-9]+)[,}]/.exec(vector.text)?.[1];
      assert.ok(digits !== undefined || vector.expect?.["user_id"] !== undefined, `${label}: no user_id digits in the text`);
      if (digits !== undefined) assert.equal(userId, BigInt(digits), `${label}: user_id changed`);
      if (userId > MAX_SAFE) bigIds += 1;
    }
    if (vectors.some((vector) => vector.valid)) {
      assert.ok(bigIds >= 1, `${schema}: expected a valid vector with user_id above 2^53`);
    }
  });
}

void test("vectors say what numbers decode to (whole numbers exact, others the nearest double)", () => {
  assert.ok(expectations >= 5, `expected vectors with "expect", found ${expectations}`);
});
