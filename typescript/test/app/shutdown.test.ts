// `npm start` and SIGTERM/SIGINT: the signal sent to npm alone reaches the bot, which sends each
// job's newest pending state once its edit interval is out (or leaves it to the next owner when
// that is after the shutdown deadline) and exits 0; a refused token (401) makes it exit non-zero
// with a clear message.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { batch, started } from "../support/fixtures.ts";
import { BotStage } from "../support/bot_stage.ts";
import type { RecordedRequest } from "../support/fake_discord.ts";

const ROOT = join(import.meta.dirname, "..", "..");

const TOKEN = "shutdown-token";

const stage = new BotStage(TOKEN);

async function waitFor(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Started {
  readonly npm: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

/** `npm start` in its own process group, as a supervisor would run it. */
function npmStart(channel: string, token: string, editIntervalMs = 600_000): Started {
  const npm = spawn("npm", ["start", "--silent"], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      DISCORD_TOKEN: token,
      DISCORD_API_URL: stage.apiUrl,
      REDIS_URL: stage.redis.url,
      DIGITS_EVENTS_STREAM: channel,
      DIGITS_BOT_GROUP: `group-${channel}`,
      DIGITS_EDIT_INTERVAL_MS: String(editIntervalMs),
      DIGITS_NOTIFY_AT_END: "false",
    },
  });
  let output = "";
  npm.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  npm.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    npm.once("exit", (code) => {
      resolve(code);
    }),
  );
  return { npm, output: () => output, exited };
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

const CASES = [
  { signal: "SIGTERM", group: false },
  { signal: "SIGINT", group: false },
  // A supervisor signalling the whole group: the bot gets it twice (directly and from npm).
  { signal: "SIGTERM", group: true },
] as const;

/** Starts a job's message, then holds back two later states behind the edit interval; the first message's request. */
async function heldBack(bot: Started, channel: string, requestId: string): Promise<RecordedRequest> {
  await waitFor("the bot to listen", () => bot.output().includes("listening on"));
  await stage.publisher.xadd(channel, "*", "event", started({ request_id: requestId }));
  await waitFor("the first message", () => stage.discord.messageRequests().some((request) => request.body.includes(requestId)));
  const first = stage.discord.messageRequests().find((request) => request.body.includes(requestId));
  assert.ok(first !== undefined);
  const before = stage.discord.messageRequests().length;
  await stage.publisher.xadd(channel, "*", "event", batch(1, 10, { request_id: requestId }));
  await stage.publisher.xadd(channel, "*", "event", batch(1, 57, { request_id: requestId }));
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(stage.discord.messageRequests().length, before, "held back by the edit interval");
  return first;
}

const INTERVAL_MS = 4000; // ends well inside the shutdown deadline (DIGITS_SHUTDOWN_TIMEOUT_MS, 10 s)

for (const { signal, group } of CASES) {
  void test(`${signal} to ${group ? "the whole group" : "npm alone"}: the newest pending state is sent once its interval is out, then everything exits 0`, async () => {
    const channel = `shutdown-${signal}-${String(group)}`;
    const requestId = `stop${signal}${group ? "group" : "npm"}`;
    const bot = npmStart(channel, TOKEN, INTERVAL_MS);
    const pid = bot.npm.pid ?? 0;
    try {
      const first = await heldBack(bot, channel, requestId);
      process.kill(group ? -pid : pid, signal);
      assert.equal(await bot.exited, 0, bot.output());
      const last = stage.discord.messageRequests().at(-1);
      assert.match(last?.body ?? "", /batch 57\/100/);
      const gap = (last?.at ?? 0) - first.at;
      assert.ok(gap >= INTERVAL_MS, `the edit came ${gap} ms after the message, inside the ${INTERVAL_MS} ms interval`);
      await waitFor("the bot process to end", () => !groupAlive(pid), 10_000);
    } finally {
      if (groupAlive(pid)) process.kill(-pid, "SIGKILL");
    }
  });
}

void test("SIGTERM with an interval that ends after the shutdown deadline: the state is left to the next owner, and the bot exits 0", async () => {
  const channel = "shutdown-left-behind";
  const requestId = "stopleftbehind";
  const bot = npmStart(channel, TOKEN);
  const pid = bot.npm.pid ?? 0;
  try {
    await heldBack(bot, channel, requestId);
    const before = stage.discord.messageRequests().length;
    process.kill(pid, "SIGTERM");
    assert.equal(await bot.exited, 0, bot.output());
    assert.equal(stage.discord.messageRequests().length, before, "no edit inside the interval");
    assert.match(bot.output(), /left to the next owner/);
    await waitFor("the bot process to end", () => !groupAlive(pid), 10_000);
  } finally {
    if (groupAlive(pid)) process.kill(-pid, "SIGKILL");
  }
});

void test("a refused token (401) ends the bot with a clear message and a non-zero exit", async () => {
  const channel = "shutdown-401";
  const bot = npmStart(channel, "wrong-token");
  const pid = bot.npm.pid ?? 0;
  try {
    await waitFor("the bot to listen", () => bot.output().includes("listening on"));
    await stage.publisher.xadd(channel, "*", "event", started({ request_id: "stop-401" }));
    const code = await bot.exited;
    assert.notEqual(code, 0);
    assert.match(bot.output(), /Discord refused DISCORD_TOKEN \(401\)/);
    assert.doesNotMatch(bot.output(), /wrong-token/, "the token never appears in the output");
  } finally {
    if (groupAlive(pid)) process.kill(-pid, "SIGKILL");
  }
});
