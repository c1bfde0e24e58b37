import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import { Delivery, type Target } from "../src/discord/delivery.ts";
import { DeliveryError } from "../src/discord/discord_port.ts";
import { silentLogger } from "../src/shared/log.ts";
import { MemoryMessageStore } from "../src/discord/message_store.ts";
import { RequestScheduler } from "../src/discord/scheduler.ts";
import { FakePort, msg } from "./fake_port.ts";

const INTERVAL = 1500;
const CHANNEL: Target = { kind: "channel", channelId: "555" };

/**
 * Lets every settled promise chain run (setImmediate is not faked). Note that mock.timers sets
 * Date to the end of a tick before running the timers due in it, so tests tick to exact due times.
 */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function advance(ms: number): Promise<void> {
  mock.timers.tick(ms);
  await settle();
}

function setup(): { port: FakePort; store: MemoryMessageStore; delivery: Delivery } {
  const port = new FakePort();
  const store = new MemoryMessageStore();
  // A gate this wide never holds anyone back: these tests are about one job's throttle.
  const scheduler = new RequestScheduler({ maxRps: 1_000_000, channelBurst: 1_000_000, safetyMs: 0 });
  const delivery = new Delivery({ port, store, logger: silentLogger, editIntervalMs: INTERVAL, scheduler, notifyAtEnd: false });
  return { port, store, delivery };
}

const ops = (port: FakePort): string[] => port.calls.map((call) => `${call.at} ${call.op} ${call.title ?? ""}`.trim());

beforeEach(() => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
});
afterEach(() => {
  mock.timers.reset();
});

void test("first update is sent at once; later ones coalesce to the newest, one edit per interval", async () => {
  const { port, store, delivery } = setup();
  delivery.publish("r", CHANNEL, msg("s1"), false);
  await settle();
  for (const [at, title] of [
    [100, "s2"],
    [200, "s3"],
    [300, "s4"],
  ] as const) {
    await advance(at - Date.now());
    delivery.publish("r", CHANNEL, msg(title), false);
    await settle();
  }
  assert.deepEqual(ops(port), ["0 create s1"]);
  await advance(INTERVAL - 300 - 1);
  assert.equal(port.calls.length, 1, "no edit before the interval has passed");
  await advance(1);
  assert.deepEqual(ops(port), ["0 create s1", "1500 edit s4"]);
  await advance(10 * INTERVAL);
  assert.equal(port.calls.length, 2, "nothing more to send");
  assert.deepEqual(store.refs.get("r"), { channelId: "555", messageId: "m100" });
  await delivery.whenIdle();
});

void test("a terminal state goes out as soon as the edit in flight finishes, skipping the interval", async () => {
  const { port, delivery } = setup();
  delivery.publish("r", CHANNEL, msg("s1"), false);
  await settle();
  await advance(200);
  port.script.push("hold");
  delivery.publish("r", CHANNEL, msg("s2"), false);
  await advance(INTERVAL - 200); // the edit with s2 starts at 1500 and hangs
  assert.deepEqual(ops(port), ["0 create s1", "1500 edit s2"]);
  delivery.publish("r", CHANNEL, msg("s3"), false);
  delivery.publish("r", CHANNEL, msg("done"), true);
  await advance(300);
  assert.equal(port.calls.length, 2, "never two requests in flight for one message");
  port.release();
  await settle();
  assert.deepEqual(ops(port), ["0 create s1", "1500 edit s2", "1800 edit done"]);
  assert.equal(delivery.busyJobs, 0);
});

void test("a terminal state right after an edit is not held back by the interval", async () => {
  const { port, delivery } = setup();
  delivery.publish("r", CHANNEL, msg("s1"), false);
  await settle();
  await advance(100);
  delivery.publish("r", CHANNEL, msg("done"), true);
  await settle();
  assert.deepEqual(ops(port), ["0 create s1", "100 edit done"]);
});

void test("429: waits retry_after, then sends the newest state", async () => {
  const { port, delivery } = setup();
  delivery.publish("r", CHANNEL, msg("s1"), false);
  await settle();
  port.script.push(new DeliveryError("rate_limited", "429", 4000));
  await advance(INTERVAL);
  delivery.publish("r", CHANNEL, msg("s2"), false);
  await settle(); // edit s2 at 1500 -> 429, blocked until 5500
  delivery.publish("r", CHANNEL, msg("s3"), false);
  delivery.publish("r", CHANNEL, msg("s4"), false);
  await advance(3999);
  assert.deepEqual(ops(port), ["0 create s1", "1500 edit s2"]);
  await advance(1);
  assert.deepEqual(ops(port), ["0 create s1", "1500 edit s2", "5500 edit s4"]);
});

void test("429 with nothing newer resends the same state, a terminal one included", async () => {
  const { port, delivery } = setup();
  delivery.publish("r", CHANNEL, msg("s1"), false);
  await settle();
  port.script.push(new DeliveryError("rate_limited", "429", 2000));
  delivery.publish("r", CHANNEL, msg("done"), true);
  await settle();
  await advance(1999);
  assert.deepEqual(ops(port), ["0 create s1", "0 edit done"]);
  await advance(1);
  assert.deepEqual(ops(port), ["0 create s1", "0 edit done", "2000 edit done"]);
  assert.equal(delivery.busyJobs, 0);
});

void test("a deleted message is replaced by a new one, and later edits go to the new one", async () => {
  const { port, store, delivery } = setup();
  delivery.publish("r", CHANNEL, msg("s1"), false);
  await settle();
  port.script.push(new DeliveryError("unknown_message", "404"));
  await advance(INTERVAL);
  delivery.publish("r", CHANNEL, msg("s2"), false);
  await settle();
  assert.deepEqual(ops(port), ["0 create s1", "1500 edit s2", "1500 create s2"]);
  assert.deepEqual(store.refs.get("r"), { channelId: "555", messageId: "m101" });
  await advance(INTERVAL);
  delivery.publish("r", CHANNEL, msg("s3"), false);
  await settle();
  assert.equal(port.calls.at(-1)?.messageId, "m101");
});

void test("a message id found in the store is edited, not replaced (restart), a whole interval after it was found", async () => {
  const { port, store, delivery } = setup();
  store.refs.set("r", { channelId: "777", messageId: "old" });
  delivery.publish("r", CHANNEL, msg("s1"), false);
  await settle();
  // Another writer (the bot before this one, /train) may have edited it just before.
  await advance(INTERVAL - 1);
  assert.equal(port.calls.length, 0, "not within the interval of an edit this bot cannot see");
  await advance(1);
  assert.deepEqual(
    port.calls.map((call) => `${call.at} ${call.op} ${call.channelId ?? ""} ${call.messageId ?? ""}`),
    [`${INTERVAL} edit 777 old`],
  );
});

void test("a final state goes to a message found in the store at once", async () => {
  const { port, store, delivery } = setup();
  store.refs.set("r", { channelId: "777", messageId: "old" });
  delivery.publish("r", CHANNEL, msg("done"), true);
  await settle();
  await settle();
  assert.deepEqual(
    port.calls.map((call) => `${call.at} ${call.op} ${call.messageId ?? ""}`),
    ["0 edit old"],
  );
});

void test("DMs: the channel is opened once per user, with the exact user id", async () => {
  const { port, delivery } = setup();
  const user = 9223372036854763462n;
  delivery.publish("a", { kind: "dm", userId: user }, msg("a1"), false);
  delivery.publish("b", { kind: "dm", userId: user }, msg("b1"), false);
  await settle();
  await settle();
  const opened = port.calls.filter((call) => call.op === "openDm");
  assert.ok(opened.length >= 1 && opened.every((call) => call.userId === user));
  assert.deepEqual(
    port.calls.filter((call) => call.op === "create").map((call) => call.channelId),
    [`dm-${user.toString()}`, `dm-${user.toString()}`],
  );
  delivery.publish("c", { kind: "dm", userId: user }, msg("c1"), false);
  await settle();
  assert.equal(port.calls.filter((call) => call.op === "openDm").length, opened.length, "cached after the first open");
});

void test("a failing update backs off exponentially instead of being dropped; the newest state goes out", async () => {
  const { port, delivery } = setup();
  const boom = new DeliveryError("failed", "500");
  port.script.push(boom, boom, boom);
  delivery.publish("r", CHANNEL, msg("s1"), false);
  await settle();
  await advance(1000);
  delivery.publish("r", CHANNEL, msg("s2"), false);
  await advance(2000);
  await advance(4000);
  assert.deepEqual(ops(port), ["0 create s1", "1000 create s1", "3000 create s2", "7000 create s2"]);
  assert.equal(delivery.busyJobs, 0);
});

void test("jobs are throttled independently", async () => {
  const { port, delivery } = setup();
  delivery.publish("a", CHANNEL, msg("a1"), false);
  delivery.publish("b", CHANNEL, msg("b1"), false);
  await settle();
  await advance(10);
  delivery.publish("a", CHANNEL, msg("a2"), false);
  delivery.publish("b", CHANNEL, msg("b2"), false);
  await advance(INTERVAL - 10);
  assert.deepEqual(ops(port).sort(), ["0 create a1", "0 create b1", "1500 edit a2", "1500 edit b2"]);
});

void test("a DM channel that is gone is opened again; a deleted message alone is not", async () => {
  const { port, delivery } = setup();
  const dm: Target = { kind: "dm", userId: 42n };
  delivery.publish("r", dm, msg("s1"), false);
  await settle();
  port.script.push(new DeliveryError("unknown_message", "404"));
  await advance(INTERVAL);
  delivery.publish("r", dm, msg("s2"), false);
  await settle();
  port.script.push(new DeliveryError("unknown_channel", "404"));
  await advance(INTERVAL);
  delivery.publish("r", dm, msg("s3"), false);
  await settle();
  assert.deepEqual(
    port.calls.map((call) => call.op),
    ["openDm", "create", "edit", "create", "edit", "openDm", "create"],
  );
});

void test("a job whose lease is taken again goes on in the message this bot made when the store lost its id", async () => {
  const { port, store, delivery } = setup();
  delivery.publish("r", CHANNEL, msg("s1"), false);
  await settle();
  await settle();
  assert.deepEqual(ops(port), ["0 create s1"]);
  delivery.drop("r"); // the lease is lost (a Redis restarted without its data lets it go)
  store.refs.clear(); // and the stored message id is gone with it
  delivery.publish("r", CHANNEL, msg("s2"), true);
  await settle();
  await settle();
  assert.deepEqual(ops(port), ["0 create s1", "0 edit s2"], "the same message, not a second one");
});

void test("the message ids kept past a lost lease are bounded by maxJobs, the oldest forgotten first", async () => {
  const port = new FakePort();
  const store = new MemoryMessageStore();
  const scheduler = new RequestScheduler({ maxRps: 1_000_000, channelBurst: 1_000_000, safetyMs: 0 });
  const delivery = new Delivery({ port, store, logger: silentLogger, editIntervalMs: INTERVAL, scheduler, notifyAtEnd: false, maxJobs: 1 });
  delivery.publish("a", CHANNEL, msg("a1"), true);
  await settle();
  await settle();
  delivery.publish("b", CHANNEL, msg("b1"), true);
  await settle();
  await settle();
  delivery.drop("a");
  store.refs.clear();
  delivery.publish("a", CHANNEL, msg("a2"), true);
  await settle();
  await settle();
  assert.deepEqual(ops(port), ["0 create a1", "0 create b1", "0 create a2"], "a's id was forgotten: a new message");
});
