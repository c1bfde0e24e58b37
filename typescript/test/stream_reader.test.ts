// Reply parsing at the Redis boundary: every shape XREADGROUP and XAUTOCLAIM can answer.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseEntries, readReply } from "../src/events/stream_reader.ts";

const b = (text: string): Buffer => Buffer.from(text);

void test("parseEntries keeps ids and the event field; entries without it have a null event", () => {
  const entries = parseEntries([
    [b("1-0"), [b("event"), b("{}")]],
    [b("2-0"), [b("other"), b("x"), b("event"), b("second")]],
    [b("3-0"), [b("other"), b("x")]],
    [b("4-0"), null], // deleted while pending (XREADGROUP of own pending entries)
    null, // deleted (XAUTOCLAIM)
    "not an entry",
    [42, []],
  ]);
  assert.deepEqual(
    entries.map((entry) => [entry.id, entry.event?.toString() ?? null]),
    [
      ["1-0", "{}"],
      ["2-0", "second"],
      ["3-0", null],
      ["4-0", null],
    ],
  );
  assert.deepEqual(parseEntries("nothing"), []);
});

void test("readReply reads one stream's entries in either nesting, and nothing from anything else", () => {
  const items = [[b("7-1"), [b("event"), b("e")]]];
  assert.equal(readReply([[b("log"), items]])[0]?.id, "7-1");
  assert.equal(readReply([b("log"), items])[0]?.id, "7-1");
  assert.deepEqual(readReply(null), []);
  assert.deepEqual(readReply([42]), []);
});
