// Delivery's bounds and settings: the new environment variables, bounded memory of stopped jobs,
// a failed write of a message id, and the dry-run printer of replies and charts.

import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, loadConfig } from "../src/app/config.ts";
import { DEFAULT_DISCORD_MAX_RPS } from "../src/shared/limits.ts";
import { ConsoleDiscordPort } from "../src/discord/console_port.ts";
import { Delivery } from "../src/discord/delivery.ts";
import { DeliveryError } from "../src/discord/discord_port.ts";
import { silentLogger, type Logger } from "../src/shared/log.ts";
import { MemoryMessageStore } from "../src/discord/message_store.ts";
import { RequestScheduler } from "../src/discord/scheduler.ts";
import { FakePort, msg } from "./fake_port.ts";

const fast = (): RequestScheduler => new RequestScheduler({ maxRps: 1_000_000, channelBurst: 1_000_000, safetyMs: 0 });

void test("settings: end notification, requests per second and shutdown timeout, with clear errors", () => {
  const defaults = loadConfig(["--dry-run"], {});
  assert.ok(defaults.kind === "run");
  assert.deepEqual(
    [defaults.config.notifyAtEnd, defaults.config.discordMaxRps, defaults.config.shutdownTimeoutMs],
    [true, DEFAULT_DISCORD_MAX_RPS, DEFAULT_SHUTDOWN_TIMEOUT_MS],
  );
  const custom = loadConfig(["--dry-run"], {
    DIGITS_NOTIFY_AT_END: "FALSE",
    DIGITS_DISCORD_MAX_RPS: "20",
    DIGITS_SHUTDOWN_TIMEOUT_MS: "0",
  });
  assert.ok(custom.kind === "run");
  assert.deepEqual([custom.config.notifyAtEnd, custom.config.discordMaxRps, custom.config.shutdownTimeoutMs], [false, 20, 0]);
  const errors = [
    { DIGITS_NOTIFY_AT_END: "nope" },
    { DIGITS_DISCORD_MAX_RPS: "0" },
    { DIGITS_DISCORD_MAX_RPS: "1.5" },
    { DIGITS_SHUTDOWN_TIMEOUT_MS: "-1" },
  ].map((env) => loadConfig(["--dry-run"], env));
  for (const [index, result] of errors.entries()) {
    assert.ok(result.kind === "error", `case ${index}`);
    assert.match(result.message, /^DIGITS_[A-Z_]+ must be .*, got "/);
  }
});

void test("stopped jobs are remembered up to the job cap; idle jobs beyond it are forgotten", async () => {
  const port = new FakePort();
  const delivery = new Delivery({
    port,
    store: new MemoryMessageStore(),
    logger: { info: () => undefined, warn: () => undefined },
    maxJobs: 2,
    scheduler: fast(),
    notifyAtEnd: false,
  });
  const forbidden = new DeliveryError("forbidden", "403");
  port.script.push(forbidden, forbidden, forbidden);
  for (const key of ["a", "b", "c"]) delivery.publish(key, { kind: "channel", channelId: key }, msg(key), false);
  await delivery.whenIdle();
  delivery.publish("a", { kind: "channel", channelId: "a" }, msg("a again"), false); // "a" was forgotten first
  delivery.publish("c", { kind: "channel", channelId: "c" }, msg("c again"), false); // still stopped
  await delivery.whenIdle();
  assert.deepEqual(
    port.calls.map((call) => call.title),
    ["a", "b", "c", "a again"],
  );
  for (const key of ["d", "e", "f"]) delivery.publish(key, { kind: "channel", channelId: key }, msg(key), false);
  await delivery.whenIdle();
  assert.equal(port.calls.length, 7);
});

void test("a failed write of the message id is logged; the message is still shown", async () => {
  const warnings: string[] = [];
  const logger: Logger = { info: () => undefined, warn: (line) => warnings.push(line) };
  const store = { get: () => Promise.resolve(null), set: () => Promise.reject(new Error("redis down")) };
  const port = new FakePort();
  const delivery = new Delivery({ port, store, logger, scheduler: fast(), notifyAtEnd: false });
  delivery.publish("r", { kind: "channel", channelId: "1" }, msg("s1"), true);
  await delivery.whenIdle();
  assert.equal(port.calls.length, 1);
  assert.match(warnings.join("\n"), /could not store the message id of job r: redis down/);
});

void test("the dry run prints new messages, replies, edits and chart uploads", async () => {
  let out = "";
  const port = new ConsoleDiscordPort((text) => (out += text));
  const { id } = await port.createMessage("c", { embed: { title: "T" }, chartPng: new Uint8Array(3) });
  await port.createMessage("c", { content: "<@1> done", replyTo: id });
  await port.editMessage({ channelId: "c", messageId: id }, { embed: { title: "U" } });
  assert.equal(
    out,
    "--- new message dry-1 in c\n## T\n\n[chart.png, 3 bytes]\n--- new message dry-2 in c replying to dry-1\n<@1> done\n--- edit dry-1 in c\n## U\n\n",
  );
});

void test("the scheduler forgets channels whose turn is past once it tracks very many", async () => {
  const scheduler = new RequestScheduler({ maxRps: 1_000_000, channelBurst: 1, channelWindowMs: 1, safetyMs: 0 });
  for (let i = 0; i < 10_001; i += 1) await scheduler.acquire(`c${i}`, () => false);
  await new Promise((resolve) => setTimeout(resolve, 5));
  await scheduler.acquire("last", () => false);
  assert.equal(scheduler.granted, 10_002);
});

void test("scheduledPort: messages sent outside a job take their turn under the channel limit and share the DM cache", async () => {
  const port = new FakePort();
  const scheduler = new RequestScheduler({ maxRps: 1000, channelBurst: 1, channelWindowMs: 200, safetyMs: 0 });
  const delivery = new Delivery({ port, store: new MemoryMessageStore(), logger: silentLogger, scheduler });
  const scheduled = delivery.scheduledPort();
  const channel = await scheduled.openDm(7n);
  assert.equal(await scheduled.openDm(7n), channel, "cached");
  await scheduled.createMessage(channel, { content: "one" });
  await scheduled.editMessage({ channelId: channel, messageId: "m" }, { content: "two" });
  const [create, edit] = port.calls.filter((call) => call.op !== "openDm");
  assert.equal(port.calls.filter((call) => call.op === "openDm").length, 1);
  assert.ok((edit?.at ?? 0) - (create?.at ?? 0) >= 190, `spaced ${(edit?.at ?? 0) - (create?.at ?? 0)} ms`);
});
