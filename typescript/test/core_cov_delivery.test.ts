// Delivery's remaining edges with the scripted port: a failure that is not an Error, updates to a
// job whose final state is shown, the bounded cache of DM channels, and a chart that fails to
// render (the state goes out without it).

import assert from "node:assert/strict";
import { test } from "node:test";
import { Delivery } from "../src/discord/delivery.ts";
import { DeliveryError } from "../src/discord/discord_port.ts";
import type { Logger } from "../src/shared/log.ts";
import { MemoryMessageStore, type MessageStore } from "../src/discord/message_store.ts";
import type { RenderedMessage } from "../src/view/render.ts";
import { RequestScheduler } from "../src/discord/scheduler.ts";
import { FakePort, msg } from "./fake_port.ts";

const fast = (): RequestScheduler => new RequestScheduler({ maxRps: 1_000_000, channelBurst: 1_000_000, safetyMs: 0 });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function recorder(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, logger: { info: () => undefined, warn: (line) => warnings.push(line) } };
}

/** A promise rejected with `value`, whatever it is. */
function rejectedWith(value: unknown): Promise<never> {
  return Promise.resolve().then(() => {
    throw value;
  });
}

void test("a failed read that is not an Error is logged by its text and retried", async () => {
  const inner = new MemoryMessageStore();
  let failures = 1;
  const store: MessageStore = {
    get: (key) => (failures-- > 0 ? rejectedWith("LOADING Redis is loading the dataset in memory") : inner.get(key)),
    set: (key, ref) => inner.set(key, ref),
  };
  const { logger, warnings } = recorder();
  const port = new FakePort();
  const delivery = new Delivery({ port, store, logger, scheduler: fast(), notifyAtEnd: false });
  delivery.publish("k", { kind: "channel", channelId: "1" }, msg("s1"), true);
  await delivery.whenIdle();
  assert.match(
    warnings.join("\n"),
    /sending update for job k failed \(1 in a row\): could not read the message id of job k: LOADING Redis is loading the dataset in memory; retrying in \d+ ms/,
  );
  assert.deepEqual(
    port.calls.map((call) => [call.op, call.title]),
    [["create", "s1"]],
  );
});

void test("once the final state is shown, the job takes no further updates", async () => {
  const port = new FakePort();
  const finished: string[] = [];
  const delivery = new Delivery({
    port,
    store: new MemoryMessageStore(),
    logger: recorder().logger,
    scheduler: fast(),
    notifyAtEnd: false,
    onFinished: (key) => finished.push(key),
  });
  const target = { kind: "channel", channelId: "2" } as const;
  port.script.push("hold", "hold");
  delivery.publish("k", target, msg("final"), true);
  await sleep(5);
  delivery.publish("k", target, msg("final, newer"), true); // while the final state is being sent
  port.release();
  await sleep(5);
  assert.deepEqual(
    port.calls.map((call) => call.title),
    ["final", "final, newer"],
    "the newer state that arrived meanwhile goes out",
  );
  delivery.publish("k", target, msg("after the end"), true); // the job has finished: ignored
  port.release();
  await delivery.whenIdle();
  assert.deepEqual(
    port.calls.map((call) => call.title),
    ["final", "final, newer"],
  );
  assert.deepEqual(finished, ["k"]);
});

void test("the cache of DM channels holds at most as many users as jobs are tracked", async () => {
  const port = new FakePort();
  const delivery = new Delivery({ port, store: new MemoryMessageStore(), logger: recorder().logger, scheduler: fast(), maxJobs: 2 });
  const scheduled = delivery.scheduledPort();
  assert.equal(await scheduled.openDm(1n), "dm-1");
  assert.equal(await scheduled.openDm(2n), "dm-2");
  assert.equal(await scheduled.openDm(1n), "dm-1", "cached");
  assert.equal(await scheduled.openDm(3n), "dm-3"); // full: the cache starts over
  assert.equal(await scheduled.openDm(3n), "dm-3", "cached");
  assert.equal(await scheduled.openDm(1n), "dm-1");
  assert.deepEqual(
    port.calls.map((call) => call.userId),
    [1n, 2n, 3n, 1n],
  );
});

void test("a chart that fails to render: the state is sent without it, never lost (the final one here, into a new message)", async () => {
  const port = new FakePort();
  const { logger, warnings } = recorder();
  const finished: string[] = [];
  const delivery = new Delivery({
    port,
    store: new MemoryMessageStore(),
    logger,
    scheduler: fast(),
    notifyAtEnd: true,
    onFinished: (key) => finished.push(key),
  });
  const target = { kind: "channel", channelId: "3", userId: 7n } as const;
  port.script.push("hold"); // the create of the final state waits
  delivery.publish("k", target, msg("Training completed", "chart-1"), true);
  await sleep(5);
  // The same chart (not uploaded again on an edit), but drawing it for a new message fails.
  const broken: RenderedMessage = {
    embed: { title: "Training completed, redrawn" },
    chart: {
      key: "chart-1",
      png: () => {
        throw new Error("font missing");
      },
    },
  };
  delivery.publish("k", target, broken, true);
  port.script.push(new DeliveryError("unknown_message", "Unknown Message")); // its message was deleted
  port.release();
  await delivery.whenIdle();
  assert.deepEqual(
    port.calls.map((call) => [call.op, call.title]),
    [
      ["create", "Training completed"],
      ["edit", "Training completed, redrawn"],
      ["create", "Training completed, redrawn"],
      ["create", ""],
    ],
  );
  const recreated = port.calls[2]?.message;
  assert.equal(recreated?.chartPng, undefined, "no picture");
  assert.equal(recreated?.embed?.image, undefined, "and no link to one");
  assert.match(port.calls[3]?.message?.content ?? "", /Training completed, redrawn: see the message above/);
  assert.match(warnings.join("\n"), /chart of job k could not be drawn \(font missing\); sending the message without it/);
  assert.deepEqual(finished, ["k"], "the job ends");
});
