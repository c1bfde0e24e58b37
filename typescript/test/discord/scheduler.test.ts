// The request scheduler: global and per-channel spacing, terminal states first, fair turns.

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { PRIORITY, RequestScheduler } from "../../src/discord/scheduler.ts";

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

void describe("spacing and turns (fake timers)", () => {
  beforeEach(() => {
    mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  });

  afterEach(() => {
    mock.timers.reset();
  });

  async function run(
    scheduler: RequestScheduler,
    requests: readonly { channel: string; urgent: boolean | number; name: string }[],
    ms: number,
  ): Promise<string[]> {
    const order: string[] = [];
    for (const request of requests) {
      void scheduler.acquire(request.channel, () => request.urgent).then(() => order.push(`${Date.now()} ${request.name}`));
    }
    for (let t = 0; t <= ms; t += 1) {
      await settle();
      mock.timers.tick(1);
    }
    await settle();
    return order;
  }

  void test("the whole bot stays under its requests per second, each channel under its own", async () => {
    const scheduler = new RequestScheduler({ maxRps: 10, channelBurst: 2, channelWindowMs: 1000, safetyMs: 0 });
    const requests = Array.from({ length: 30 }, (_, i) => ({ channel: `c${i % 3}`, urgent: false, name: `r${i}` }));
    const order = await run(scheduler, requests, 3000);
    const times = order.map((line) => Number(line.split(" ")[0]));
    for (let i = 10; i < times.length; i += 1)
      assert.ok((times[i] ?? 0) - (times[i - 10] ?? 0) >= 1000, `at most 10 in any second (${order.join(", ")})`);
    assert.ok(order.length >= 10, "still makes progress");
    for (const channel of ["r0", "r1", "r2"]) assert.ok(order.some((line) => line.endsWith(` ${channel}`)));
    const c0 = order.filter((line) => Number(line.split(" r")[1]) % 3 === 0).map((line) => Number(line.split(" ")[0]));
    for (let i = 2; i < c0.length; i += 1) assert.ok((c0[i] ?? 0) - (c0[i - 2] ?? 0) >= 1000, "at most 2 per second in one channel");
  });

  void test("a terminal state goes first; the others in the order they asked", async () => {
    const scheduler = new RequestScheduler({ maxRps: 10, channelBurst: 100, safetyMs: 0 });
    const requests = [
      { channel: "a", urgent: false, name: "a" },
      { channel: "b", urgent: false, name: "b" },
      { channel: "c", urgent: false, name: "c" },
      { channel: "d", urgent: true, name: "end" },
    ];
    const order = await run(scheduler, requests, 400);
    assert.deepEqual(
      order.map((line) => line.split(" ")[1]),
      ["a", "end", "b", "c"],
    );
    assert.equal(scheduler.granted, 4);
    assert.equal(scheduler.queued, 0);
  });

  void test("holdUntil stops everyone until then", async () => {
    const scheduler = new RequestScheduler({ maxRps: 1000, safetyMs: 0 });
    scheduler.holdUntil(250);
    const order = await run(scheduler, [{ channel: "a", urgent: false, name: "a" }], 300);
    assert.deepEqual(order, ["250 a"]);
  });

  void test("final states go before end notifications, which go before progress", async () => {
    const scheduler = new RequestScheduler({ maxRps: 10, channelBurst: 100, safetyMs: 0 });
    const requests = [
      { channel: "a", urgent: PRIORITY.progress, name: "first" },
      { channel: "b", urgent: PRIORITY.progress, name: "progress" },
      { channel: "c", urgent: PRIORITY.notification, name: "notification" },
      { channel: "d", urgent: PRIORITY.final, name: "final" },
    ];
    const order = await run(scheduler, requests, 400);
    assert.deepEqual(
      order.map((line) => line.split(" ")[1]),
      ["first", "final", "notification", "progress"],
    );
  });

  void test("holdChannel stops that channel only (a route's 429)", async () => {
    const scheduler = new RequestScheduler({ maxRps: 1000, channelBurst: 100, safetyMs: 0 });
    scheduler.holdChannel("a", 250);
    const order = await run(
      scheduler,
      [
        { channel: "a", urgent: false, name: "a" },
        { channel: "b", urgent: false, name: "b" },
      ],
      300,
    );
    assert.deepEqual(order, ["0 b", "250 a"]);
  });
});

void describe("with real timers", () => {
  void test("the scheduler forgets channels whose turn is past once it tracks very many", async () => {
    const scheduler = new RequestScheduler({ maxRps: 1_000_000, channelBurst: 1, channelWindowMs: 1, safetyMs: 0 });
    for (let i = 0; i < 10_001; i += 1) await scheduler.acquire(`c${i}`, () => false);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await scheduler.acquire("last", () => false);
    assert.equal(scheduler.granted, 10_002);
  });
});
