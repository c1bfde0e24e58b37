// The log reader: every reply shape XREADGROUP and XAUTOCLAIM can answer, parsed at the Redis
// boundary; and, against a real redis-server, a handler that fails leaves its entry to be read again.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { claimReply, type LogEntry, parseEntries, readReply, StreamReader } from "../../src/events/stream_reader.ts";
import { liveRedis } from "../support/live_redis.ts";
import { recorder } from "../support/log_recorder.ts";

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

void test("XAUTOCLAIM replies: a cursor and entries, or nothing usable", () => {
  const b = (text: string): Buffer => Buffer.from(text);
  const claimed = claimReply([b("7-0"), [[b("5-0"), [b("event"), b("e")]]], []]);
  assert.deepEqual([claimed.cursor, claimed.entries.map((entry) => [entry.id, entry.event?.toString()])], ["7-0", [["5-0", "e"]]]);
  assert.deepEqual(claimReply([b("0-0"), []]), { cursor: "0-0", entries: [] });
  assert.deepEqual(claimReply(null), { cursor: "0-0", entries: [] });
  assert.deepEqual(claimReply(["7-0", "x"]), { cursor: "0-0", entries: [] });
});

void describe("against a real redis-server", () => {
  const live = liveRedis();

  /** A promise rejected with `value`, whatever it is. */
  function thrownLater(value: unknown): Promise<never> {
    return Promise.resolve().then(() => {
      throw value;
    });
  }

  void test("a handler failing with something that is not an Error is logged, and the entry is read again", async () => {
    const { logger, lines } = recorder();
    const stream = "cov:log";
    await live.redis.xadd(stream, "*", "event", "first");
    const handled: string[] = [];
    let calls = 0;
    let reader: StreamReader | null = null;
    reader = new StreamReader({
      redis: live.redis,
      stream,
      group: "g",
      consumer: "c",
      claimIdleMs: 60_000,
      logger,
      handle: (entries: readonly LogEntry[]) => {
        calls += 1;
        // A failure that is not an Error object (thrown from deep inside some library).
        const oddFailure: unknown = new Map([["reason", "not an Error"]]);
        if (calls === 1) return thrownLater(oddFailure);
        handled.push(...entries.map((entry) => entry.event?.toString() ?? ""));
        reader?.stop();
        return Promise.resolve();
      },
    });
    await reader.ensureGroup("0");
    await reader.run();
    assert.deepEqual(handled, ["first"]);
    assert.match(lines.join("\n"), /warn reading the event log failed \(1 in a row\): \[object Map\]; retrying in 200 ms/);
    const pending: unknown = await live.redis.xpending(stream, "g");
    assert.equal(Array.isArray(pending) ? pending[0] : null, 0, "acknowledged once handled");
  });
});
