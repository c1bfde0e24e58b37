// The log: a line is the time, the level and the message; untrusted text is quoted and shortened,
// and a Redis URL never shows its password.

import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { redactUrl, snippet, streamLogger } from "../../src/shared/log.ts";

void test("a log line is the time, the level and the message; snippets are quoted and shortened", () => {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk.toString()));
  const logger = streamLogger(stream);
  const before = Date.now();
  logger.info("started");
  logger.warn(`bad input ${snippet("x".repeat(5), 3)}`);
  const lines = chunks.join("").split("\n");
  assert.equal(lines.length, 3);
  assert.equal(lines[2], "");
  const [time, level, ...rest] = (lines[0] ?? "").split(" ");
  assert.ok(Date.parse(time ?? "") >= before - 1000 && Date.parse(time ?? "") <= Date.now(), time);
  assert.deepEqual([level, rest.join(" ")], ["info", "started"]);
  assert.match(lines[1] ?? "", /^\S+Z warn bad input "xxx… \(5 chars\)"$/);
  assert.equal(snippet("a\nb"), '"a\\nb"', "short text is only quoted");
});

void test("a Redis URL in a log line never shows a password, and an unparsable one is not echoed", () => {
  assert.equal(redactUrl("redis://default:pw@127.0.0.1:6379/0"), "redis://default:***@127.0.0.1:6379/0");
  assert.equal(redactUrl("redis://127.0.0.1:6379/0?Password=pw&db=1"), "redis://127.0.0.1:6379/0?Password=***&db=1");
  assert.equal(redactUrl("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
  assert.equal(redactUrl("pw but not a URL"), "<unparsable REDIS_URL>");
});
