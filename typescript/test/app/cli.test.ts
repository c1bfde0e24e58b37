// `npm start` behaviour: help, a one-line error without a token, and a dry run that prints.

import assert from "node:assert/strict";
import { type ChildProcessByStdio, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import type { Readable } from "node:stream";
import { join } from "node:path";
import { test } from "node:test";
import { Redis } from "ioredis";
import { DEFAULT_EVENTS_STREAM, loadConfig } from "../../src/app/config.ts";
import { DEFAULT_EDIT_INTERVAL_MS } from "../../src/shared/limits.ts";
import { DEFAULT_BOT_GROUP } from "../../src/shared/settings_schema.ts";
import { RedisServer } from "../support/redis_server.ts";
import { redactUrl } from "../../src/shared/log.ts";
import { started } from "../support/fixtures.ts";

const MAIN = join(import.meta.dirname, "..", "..", "src", "main.ts");

const cleanEnv = { PATH: process.env.PATH ?? "" };

function runMain(args: readonly string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], {
    env: { ...cleanEnv, ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

void test("loadConfig: defaults, overrides and errors", () => {
  const defaults = loadConfig(["--dry-run"], {});
  assert.equal(defaults.kind, "run");
  assert.equal(defaults.config.eventsStream, DEFAULT_EVENTS_STREAM);
  assert.equal(defaults.config.editIntervalMs, DEFAULT_EDIT_INTERVAL_MS);
  assert.equal(defaults.config.notifyChannelId, null);
  assert.equal(defaults.config.group, `digits-dry-run-${process.pid}`, "a dry run never joins the real bots' group");
  assert.equal(defaults.config.throwawayGroup, true);
  const custom = loadConfig([], {
    DISCORD_TOKEN: "t",
    DIGITS_NOTIFY_CHANNEL_ID: "42",
    DIGITS_EDIT_INTERVAL_MS: "2000",
    DIGITS_EVENTS_STREAM: "s",
    DIGITS_BOT_CONSUMER: "bot-a",
  });
  assert.equal(
    custom.kind === "run"
      ? `${custom.config.notifyChannelId ?? ""} ${custom.config.editIntervalMs} ${custom.config.eventsStream} ${custom.config.group} ${custom.config.consumer}`
      : "",
    `42 2000 s ${DEFAULT_BOT_GROUP} bot-a`,
  );
  assert.equal(custom.kind === "run" && custom.config.throwawayGroup, false);
  const badGroup = loadConfig(["--dry-run"], { DIGITS_BOT_GROUP: "a b" });
  assert.match(badGroup.kind === "error" ? badGroup.message : "", /DIGITS_BOT_GROUP must be .*"a b"/);
  const badLease = loadConfig(["--dry-run"], { DIGITS_BOT_LEASE_MS: "10" });
  assert.match(badLease.kind === "error" ? badLease.message : "", /DIGITS_BOT_LEASE_MS must be a whole number >= 300, got "10"/);
  assert.equal(loadConfig([], {}).kind, "error");
  assert.equal(loadConfig(["--dry-run"], { DIGITS_EDIT_INTERVAL_MS: "fast" }).kind, "error");
  assert.equal(loadConfig(["--dry-run"], { DIGITS_NOTIFY_CHANNEL_ID: "#general" }).kind, "error");
  assert.equal(loadConfig(["--bogus"], {}).kind, "error");
  assert.equal(loadConfig(["--help"], {}).kind, "help");
});

void test("a missing token without --dry-run is a one-line error and a non-zero exit", () => {
  const { status, stdout, stderr } = runMain([]);
  assert.notEqual(status, 0);
  assert.equal(stdout, "");
  assert.match(stderr, /^digits-bot: DISCORD_TOKEN is not set[^\n]*\n$/);
});

void test("--help prints usage and exits 0", () => {
  const { status, stdout } = runMain(["--help"]);
  assert.equal(status, 0);
  assert.match(stdout, /--dry-run/);
});

void test("--dry-run prints each update of the log's events and leaves no group behind", async () => {
  const stream = `cli-dry-run-${process.pid}`;
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--dry-run"], {
    env: { ...cleanEnv, DIGITS_EVENTS_STREAM: stream, REDIS_URL: "redis://127.0.0.1:6379" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const publisher = new Redis("redis://127.0.0.1:6379");
  try {
    const deadline = Date.now() + 20_000;
    while (!stderr.includes("listening on")) {
      assert.ok(Date.now() < deadline, `the bot did not start: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await publisher.xadd(stream, "*", "event", started({ request_id: "cli-job" }));
    while (!stdout.includes("Training started")) {
      assert.ok(Date.now() < deadline, `no dry-run output; got ${JSON.stringify(stdout)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.match(stdout, /--- new message dry-1 in dm-9223372036854763462/);
    assert.match(stdout, /Request cli\\-job/);
    assert.equal((await publisher.keys("digits:bot:digits-dry-run-*")).length, 0, "a dry run writes no job keys");
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    const groups = await publisher.xinfo("GROUPS", stream);
    await publisher.del(stream);
    publisher.disconnect();
    assert.deepEqual(groups, [], "the throwaway group is deleted at exit");
  }
});

void test("a bot started before Redis waits for it, never printing the password, then reads the log", async () => {
  const server = await RedisServer.unstarted();
  const password = "s3cret-Pa55word";
  const url = `redis://default:${password}@127.0.0.1:${server.port}`;
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--dry-run"], {
    env: { ...cleanEnv, REDIS_URL: url, DIGITS_EVENTS_STREAM: "wait-log" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  try {
    const deadline = Date.now() + 20_000;
    while (!output.includes("waiting for Redis")) {
      assert.ok(Date.now() < deadline, `no waiting line: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(child.exitCode === null, "the bot waits instead of exiting");
    assert.match(output, new RegExp(`waiting for Redis at redis://default:\\*\\*\\*@127\\.0\\.0\\.1:${server.port}`));
    await server.launchWithPassword(password);
    while (!output.includes("listening on")) {
      assert.ok(Date.now() < deadline, `the bot did not connect once Redis was up: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    child.kill("SIGTERM");
    const code = await new Promise((resolve) => child.once("exit", resolve));
    await server.stop();
    assert.equal(code, 0);
    assert.ok(!output.includes(password), "the password never appears in the bot's output");
  }
});

void test("redactUrl hides the password in the user info and in ?password=, and never echoes an unparsable URL", () => {
  assert.equal(redactUrl("redis://user:pw@host:6379/0"), "redis://user:***@host:6379/0");
  assert.equal(redactUrl("redis://host:6379/0?password=pw&db=1"), "redis://host:6379/0?password=***&db=1");
  assert.equal(redactUrl("redis://host:6379"), "redis://host:6379");
  assert.equal(redactUrl("not a url with pw"), "<unparsable REDIS_URL>");
});

/** Resolves once `output()` matches `pattern`, failing after 20 s with what was printed. */
async function waitForOutput(output: () => string, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!pattern.test(output())) {
    assert.ok(Date.now() < deadline, `no ${String(pattern)} in: ${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function startMain(
  args: readonly string[],
  env: Record<string, string>,
): { child: ChildProcessByStdio<null, Readable, Readable>; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
    env: { ...cleanEnv, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      resolve(code);
    }),
  );
  return { child, output: () => output, exited };
}

void test("a bot still waiting for Redis exits 0 at once on SIGTERM: there is nothing to flush", async () => {
  const server = await RedisServer.unstarted();
  const { child, output, exited } = startMain(["--dry-run"], { REDIS_URL: server.url });
  await waitForOutput(output, /waiting for Redis/);
  const signalled = Date.now();
  child.kill("SIGTERM");
  assert.equal(await exited, 0);
  assert.ok(Date.now() - signalled < 5000);
  assert.doesNotMatch(output(), /listening on|stopping/);
});

void test("a second signal right after the first (a group signal npm forwards) changes nothing: one stop, exit 0, the throwaway group deleted", async () => {
  const server = await RedisServer.start();
  const stream = "cli-twice";
  const { child, output, exited } = startMain(["--dry-run"], { REDIS_URL: server.url, DIGITS_EVENTS_STREAM: stream });
  const redis = new Redis(server.url);
  try {
    await waitForOutput(output, /listening on/);
    // The same request twice (which arrives first is up to the kernel); one a second later exits at once (signals.test.ts).
    child.kill("SIGTERM");
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
    assert.equal(output().match(/stopping/g)?.length, 1, output());
    assert.doesNotMatch(output(), /again/);
    assert.deepEqual(await redis.xinfo("GROUPS", stream), []);
  } finally {
    redis.disconnect();
    await server.stop();
  }
});

void test("a start that fails (the interactions port is taken) is a one-line error and exit 1", async () => {
  const server = await RedisServer.start();
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const address = taken.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  try {
    // Not a dry run: a dry run serves no interactions endpoint (test/dry_run_isolation.test.ts).
    const { output, exited } = startMain([], {
      DISCORD_TOKEN: "t",
      DISCORD_API_URL: "http://127.0.0.1:9",
      REDIS_URL: server.url,
      DIGITS_EVENTS_STREAM: "cli-taken",
      DISCORD_PUBLIC_KEY: "c".repeat(64),
      DISCORD_APPLICATION_ID: "1",
      DIGITS_INTERACTIONS_HOST: "127.0.0.1",
      DIGITS_INTERACTIONS_PORT: String(port),
    });
    assert.equal(await exited, 1);
    assert.match(output(), new RegExp(`\\ndigits-bot: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port}\\n$`));
  } finally {
    taken.close();
    await server.stop();
  }
});
