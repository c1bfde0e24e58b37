// The bot's Redis connections: waiting for Redis at start says why each try failed.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Redis } from "ioredis";
import { waitForRedis } from "../../src/app/redis_clients.ts";
import { liveRedis } from "../support/live_redis.ts";
import { recorder } from "../support/log_recorder.ts";

const live = liveRedis();

/** A promise rejected with `value`, whatever it is. */
function thrownLater(value: unknown): Promise<never> {
  return Promise.resolve().then(() => {
    throw value;
  });
}

void test("waiting for Redis reports each failure by its text, an Error's or not", async () => {
  /** A client whose connect fails with something that is not an Error, then with an Error. */
  class OddRedis extends Redis {
    attempts = 0;
    override connect(): Promise<void> {
      this.attempts += 1;
      return this.attempts === 1 ? thrownLater(new Map([["code", "ECONNREFUSED"]])) : thrownLater(new Error("connect ECONNREFUSED"));
    }
  }
  const odd = new OddRedis(live.server.url, { lazyConnect: true });
  const { logger, lines } = recorder();
  const up = await waitForRedis(odd, "redis://user:secret@10.0.0.1:6379", logger, () => odd.attempts >= 2);
  assert.equal(up, false);
  assert.deepEqual(lines, [
    "warn waiting for Redis at redis://user:***@10.0.0.1:6379 ([object Map]); retrying in 500 ms",
    "warn waiting for Redis at redis://user:***@10.0.0.1:6379 (connect ECONNREFUSED); retrying in 1000 ms",
  ]);
  odd.disconnect();
});
