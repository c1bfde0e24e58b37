// Delivery under Discord's failures and features (issue 12.11-12.14, 14.3-14.5, 14.7, charts),
// with a scripted port and fake timers.

import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import { Delivery, type Target } from "../src/discord/delivery.ts";
import { nonceFor } from "../src/discord/job_message.ts";
import { backoffMs } from "../src/shared/backoff.ts";
import { DeliveryError } from "../src/discord/discord_port.ts";
import type { Logger } from "../src/shared/log.ts";
import { MemoryMessageStore, type MessageStore } from "../src/discord/message_store.ts";
import { RequestScheduler } from "../src/discord/scheduler.ts";
import { FakePort, msg } from "./fake_port.ts";

const INTERVAL = 1500;
const USER = 9223372036854763462n;
const CHANNEL: Target = { kind: "channel", channelId: "555", userId: USER };
const DM: Target = { kind: "dm", userId: USER };
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/**
 * Moves fake time on in steps of 500 ms (every due time here is a multiple of it): mock.timers
 * sets Date to the end of a tick before running the timers due in it.
 */
async function advance(ms: number): Promise<void> {
  await settle();
  await settle();
  for (let left = ms; left > 0; left -= 500) {
    mock.timers.tick(Math.min(500, left));
    await settle();
    await settle();
  }
}

interface Setup {
  port: FakePort;
  store: MemoryMessageStore;
  delivery: Delivery;
  warnings: string[];
  fatal: DeliveryError[];
}

function setup(options: { notifyAtEnd?: boolean; fallbackChannelId?: string; store?: MessageStore } = {}): Setup {
  const port = new FakePort();
  const store = new MemoryMessageStore();
  const warnings: string[] = [];
  const fatal: DeliveryError[] = [];
  const logger: Logger = { info: () => undefined, warn: (line) => warnings.push(line) };
  const scheduler = new RequestScheduler({ maxRps: 1_000_000, channelBurst: 1_000_000, safetyMs: 0 });
  const delivery = new Delivery({
    port,
    store: options.store ?? store,
    logger,
    editIntervalMs: INTERVAL,
    scheduler,
    notifyAtEnd: options.notifyAtEnd ?? false,
    fallbackChannelId: options.fallbackChannelId ?? null,
    onFatal: (error) => fatal.push(error),
  });
  return { port, store, delivery, warnings, fatal };
}

const ops = (port: FakePort): string[] => port.calls.map((call) => `${call.at} ${call.op} ${call.title ?? ""}`.trim());

beforeEach(() => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
});
afterEach(() => {
  mock.timers.reset();
});

void test("backoff doubles from the base and is capped", () => {
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => backoffMs(n)),
    [1000, 2000, 4000, 8000],
  );
  assert.equal(backoffMs(100), 60_000);
});

void test("12.11: a terminal state failing again and again is retried with backoff and never abandoned", async () => {
  const { port, delivery } = setup();
  delivery.publish("r", CHANNEL, msg("s1"), false);
  await settle();
  const boom = new DeliveryError("failed", "Discord 503");
  port.script.push(boom, boom, boom, boom, boom);
  delivery.publish("r", CHANNEL, msg("done"), true);
  await advance(40_000);
  const edits = port.calls.filter((call) => call.op === "edit").map((call) => call.at);
  assert.deepEqual(edits, [0, 1000, 3000, 7000, 15000, 31000], "six tries, each wait twice the one before");
  assert.equal(port.calls.at(-1)?.title, "done");
  assert.equal(delivery.busyJobs, 0);
});

void test("12.12: a 429 without Retry-After waits at least 1 s, longer on repeats", async () => {
  const { port, delivery } = setup();
  const limited = new DeliveryError("rate_limited", "429", 0);
  port.script.push(limited, limited, limited);
  delivery.publish("r", CHANNEL, msg("s1"), true);
  await advance(10_000);
  assert.deepEqual(ops(port), ["0 create s1", "1000 create s1", "3000 create s1", "7000 create s1"]);
});

void test("12.13: a retried create carries the same nonce; the next message of the job another", async () => {
  const { port, delivery } = setup();
  port.script.push(new DeliveryError("failed", "timeout"));
  delivery.publish("r", CHANNEL, msg("s1"), false);
  await advance(1000);
  port.script.push(new DeliveryError("unknown_message", "deleted"));
  await advance(INTERVAL);
  delivery.publish("r", CHANNEL, msg("s2"), false);
  await advance(INTERVAL);
  const creates = port.calls.filter((call) => call.op === "create").map((call) => call.message?.nonce);
  assert.equal(creates.length, 3);
  assert.equal(creates[0], nonceFor("r", "message-0"));
  assert.equal(creates[1], creates[0]);
  assert.notEqual(creates[2], creates[0]);
  assert.ok((creates[2] ?? "").length <= 25);
});

void test("a create answered with an earlier message of its nonce (a lost answer) is followed by an edit to the newest state", async () => {
  const { port, store, delivery } = setup({ notifyAtEnd: true });
  // A bot that died sent "s1" with this nonce; Discord answers the new create with that message.
  port.shownNext.push({ content: "", embeds: [{ title: "s1" }] });
  delivery.publish("r", DM, msg("Training completed"), true);
  await advance(1000);
  assert.deepEqual(ops(port), ["0 openDm", "0 create Training completed", "0 edit Training completed", "0 create"]);
  assert.equal(port.calls[2]?.messageId, store.refs.get("r")?.messageId, "the returned message is edited");
  assert.match(port.calls[3]?.message?.content ?? "", /Training completed: see the message above/);
});

void test("a create answered with the message it sent is not edited again", async () => {
  const { port, delivery } = setup();
  port.shownNext.push({
    content: "",
    embeds: [{ title: "s1", description: "d", fields: [{ name: "a", value: "b" }], footer: { text: "f" } }],
  });
  delivery.publish(
    "r",
    CHANNEL,
    { embed: { title: "s1", description: "d", fields: [{ name: "a", value: "b", inline: true }], footer: { text: "f" } } },
    true,
  );
  await advance(INTERVAL * 2);
  assert.deepEqual(ops(port), ["0 create s1"]);
});

void test("12.13: a failed read of the stored message id is retried, not taken as no message", async () => {
  const inner = new MemoryMessageStore();
  inner.refs.set("r", { channelId: "777", messageId: "old" });
  let failures = 2;
  const store: MessageStore = {
    get: (key) => (failures-- > 0 ? Promise.reject(new Error("redis down")) : inner.get(key)),
    set: (key, ref) => inner.set(key, ref),
  };
  const { port, delivery, warnings } = setup({ store });
  delivery.publish("r", CHANNEL, msg("s1"), false);
  await advance(1000);
  assert.equal(port.calls.length, 0, "nothing sent while the id cannot be read");
  await advance(2000 + INTERVAL); // read, then a whole interval (see delivery.test.ts)
  assert.deepEqual(
    port.calls.map((call) => [call.op, call.messageId]),
    [["edit", "old"]],
  );
  assert.ok(warnings.some((line) => line.includes("redis down")));
});

void test("12.14: 401 is reported as fatal once; 403 stops only that job, logged once", async () => {
  const { port, delivery, fatal, warnings } = setup();
  port.script.push(new DeliveryError("forbidden", "Discord 403 (50001): Missing Access"));
  delivery.publish("a", CHANNEL, msg("a1"), false);
  await settle();
  delivery.publish("a", CHANNEL, msg("a2"), true);
  delivery.publish("b", { kind: "channel", channelId: "556" }, msg("b1"), false);
  await advance(10_000);
  assert.deepEqual(ops(port), ["0 create a1", "0 create b1"]);
  assert.equal(warnings.filter((line) => line.includes("giving up on job a")).length, 1);
  port.script.push(new DeliveryError("unauthorized", "Discord 401"), new DeliveryError("unauthorized", "Discord 401"));
  delivery.publish("c", CHANNEL, msg("c1"), false);
  delivery.publish("d", CHANNEL, msg("d1"), false);
  await advance(10_000);
  assert.equal(fatal.length, 1);
  assert.equal(delivery.busyJobs, 0);
});

void test("14.3: at the end, one reply that may ping only the requester; the setting turns it off", async () => {
  for (const notifyAtEnd of [true, false]) {
    const { port, delivery } = setup({ notifyAtEnd });
    delivery.publish("r", DM, msg("Training"), false);
    delivery.publish("r", DM, msg("Training completed"), true);
    await advance(10_000);
    const creates = port.calls.filter((call) => call.op === "create");
    if (!notifyAtEnd) {
      assert.equal(creates.length, 1);
      continue;
    }
    assert.equal(creates.length, 2);
    const note = creates[1]?.message;
    assert.equal(note?.mentionUserId, USER);
    assert.equal(note.replyTo, "m100");
    assert.equal(note.content, `<@${USER.toString()}> Training completed: see the message above.`);
    assert.equal(note.embed, undefined);
  }
});

void test("14.4: an edit refused as too old continues in a new message replying to the old one", async () => {
  const { port, store, delivery } = setup();
  delivery.publish("r", CHANNEL, msg("s1", "run:epoch-1"), false);
  await settle();
  port.script.push(new DeliveryError("too_old", "Discord 400 (30046)"));
  await advance(INTERVAL);
  delivery.publish("r", CHANNEL, msg("s2", "run:epoch-1"), false);
  await advance(0);
  assert.deepEqual(ops(port), ["0 create s1", "1500 edit s2", "1500 create s2"]);
  const created = port.calls[2]?.message;
  assert.equal(created?.replyTo, "m100");
  assert.ok(created.chartPng !== undefined, "the new message gets the chart again");
  assert.deepEqual(store.refs.get("r"), { channelId: "555", messageId: "m101" });
  delivery.publish("r", CHANNEL, msg("s3"), false);
  await advance(INTERVAL - 500);
  assert.equal(port.calls.length, 3, "the throttle still holds");
  await advance(500);
  assert.equal(port.calls.at(-1)?.messageId, "m101");
});

void test("14.5: closed DMs fall back to the channel, mentioning the user once", async () => {
  const { port, delivery } = setup({ fallbackChannelId: "900" });
  port.script.push("ok", new DeliveryError("dms_closed", "Discord 403 (50007)"));
  delivery.publish("r", DM, msg("s1"), false);
  await advance(0);
  await advance(INTERVAL);
  delivery.publish("r", DM, msg("s2"), false);
  await advance(INTERVAL);
  assert.deepEqual(
    port.calls.map((call) => [call.op, call.channelId]),
    [
      ["openDm", undefined],
      ["create", `dm-${USER.toString()}`],
      ["create", "900"],
      ["edit", "900"],
    ],
  );
  assert.equal(port.calls[2]?.message?.mentionUserId, USER);
  assert.ok(port.calls[2].message.content?.includes(`<@${USER.toString()}>`));
  assert.equal(port.calls[3]?.message?.mentionUserId, undefined);
});

void test("14.5: closed DMs without a fallback: logged once, the job stops", async () => {
  const { port, delivery, warnings } = setup();
  port.script.push(new DeliveryError("dms_closed", "Discord 403 (50007)"));
  delivery.publish("r", DM, msg("s1"), false);
  await advance(0);
  delivery.publish("r", DM, msg("s2"), true);
  await advance(10_000);
  assert.deepEqual(
    port.calls.map((call) => call.op),
    ["openDm"],
  );
  assert.equal(warnings.length, 1);
  assert.equal(delivery.busyJobs, 0);
});

void test("charts: uploaded when the key changes, not on every edit; a failed upload is redone", async () => {
  const { port, delivery } = setup();
  const sent = (): boolean[] => port.calls.map((call) => call.message?.chartPng !== undefined);
  delivery.publish("r", CHANNEL, msg("s1", "k1"), false);
  await settle();
  for (const [title, key] of [
    ["s2", "k1"],
    ["s3", "k2"],
    ["s4", "k2"],
  ] as const) {
    await advance(INTERVAL);
    delivery.publish("r", CHANNEL, msg(title, key), false);
    await settle();
  }
  assert.deepEqual(sent(), [true, false, true, false]);
  assert.equal(port.calls[1]?.message?.embed?.image?.url, "attachment://chart.png");
  port.script.push(new DeliveryError("failed", "500"));
  await advance(INTERVAL);
  delivery.publish("r", CHANNEL, msg("s5", "k3"), false);
  await advance(1000);
  assert.deepEqual(sent().slice(4), [true, true]);
});

void test("14.7: flush waits out the rest of the edit interval, then sends the newest pending state", async () => {
  const { port, delivery } = setup();
  delivery.publish("r", CHANNEL, msg("s1"), false);
  await settle();
  delivery.publish("r", CHANNEL, msg("s2"), false);
  delivery.publish("r", CHANNEL, msg("s3"), false);
  const flushed = delivery.flush(5000);
  await advance(1000);
  assert.deepEqual(ops(port), ["0 create s1"], "not before the interval is out");
  await advance(500);
  assert.equal(await flushed, true);
  assert.deepEqual(ops(port), ["0 create s1", "1500 edit s3"]);
});

void test("14.7: flush leaves a progress state whose interval ends after its deadline to the next owner; a final one goes at once", async () => {
  const { port, delivery } = setup();
  delivery.publish("r", CHANNEL, msg("s1"), false);
  delivery.publish("t", CHANNEL, msg("t1"), false);
  await settle();
  delivery.publish("r", CHANNEL, msg("s2"), false);
  delivery.publish("t", CHANNEL, msg("t2 final"), true);
  const flushed = delivery.flush(1000);
  await advance(500);
  assert.equal(await flushed, true, "at once: nothing is left waiting");
  await advance(2000);
  assert.deepEqual(ops(port), ["0 create s1", "0 create t1", "0 edit t2 final"]);
});

void test("14.7: flush gives up after its timeout", async () => {
  const { port, delivery } = setup();
  port.script.push("hold");
  delivery.publish("r", CHANNEL, msg("s1"), false);
  const flushed = delivery.flush(100);
  await advance(100);
  assert.equal(await flushed, false);
  port.release();
});
