// The invalid-entry log under a flood: the first few in full (quoted), then one summary a
// minute, keyed by a fixed category with one short example each, whatever the entries say.

import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeEventBytes } from "../../src/events/decode.ts";
import { categoryOf, InvalidLog } from "../../src/events/invalid_log.ts";
import { started } from "../support/fixtures.ts";
import { recorder } from "../support/log_recorder.ts";

/** The reason decode.ts gives for these bytes (each must be invalid). */
function reasonOf(bytes: Buffer): string {
  const decoded = decodeEventBytes(bytes);
  assert.equal(decoded.kind, "invalid");
  return decoded.reason;
}

void test("each kind of decode failure has its fixed category", () => {
  const cases: [Buffer, string][] = [
    [Buffer.from("x".repeat(70_000)), "too large"],
    [Buffer.from([0xff, 0xfe]), "not UTF-8"],
    [Buffer.from("{nope"), "not JSON"],
    [Buffer.from("{}"), "unknown or missing type"],
    [Buffer.from(JSON.stringify({ type: "attacker.chosen.type" })), "unknown or missing type"],
    [Buffer.from(started({ request_id: "" })), "fails its schema"],
  ];
  for (const [bytes, category] of cases) assert.equal(categoryOf(reasonOf(bytes)), category, reasonOf(bytes));
});

void test("a flood of distinct junk gives one short summary line: counts per category, one example each", async () => {
  const { logger, lines } = recorder();
  const log = new InvalidLog(logger, 2, 20);
  for (let n = 0; n < 2000; n += 1) {
    const junk = [`{junk-${n}-${"z".repeat(n % 300)}`, JSON.stringify({ type: `made.up.${n}` }), started({ request_id: "" })][n % 3] ?? "";
    const reason = reasonOf(Buffer.from(junk));
    log.record(categoryOf(reason), reason, junk);
  }
  log.record("no event field", "entry has no event field", "entry 1-0");
  assert.equal(lines.length, 2, "the first two in full");
  assert.match(lines[0] ?? "", /^warn invalid event #1 \("not JSON: .*"\): "\{junk-0-"$/);
  assert.match(lines[1] ?? "", /\(further invalid entries are counted, not shown\)$/);
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(lines.length, 3, "one summary");
  const summary = lines[2] ?? "";
  assert.ok(summary.length < 800, `the summary is ${summary.length} characters`);
  assert.equal(
    summary,
    "warn invalid events since the last report: " +
      '666 × fails its schema (e.g. "request_id: Too small: expected string to have >=1 characters"); ' +
      "666 × not JSON (e.g. \"not JSON: Quoted object key expected but got 'j' at position 1\"); " +
      '666 × unknown or missing type (e.g. "type: unknown event type \\"made.up.4\\""); ' +
      '1 × no event field (e.g. "entry has no event field") (2001 in all)',
  );
  log.flush();
  assert.equal(lines.length, 3, "nothing new to report");
});
