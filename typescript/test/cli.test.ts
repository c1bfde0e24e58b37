// `npm start` behaviour: help, a one-line error without a token, and a dry run that prints.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { Redis } from "ioredis";
import { DEFAULT_EDIT_INTERVAL_MS, DEFAULT_EVENTS_CHANNEL, loadConfig } from "../src/config.ts";
import { started } from "./fixtures.ts";

const MAIN = join(import.meta.dirname, "..", "src", "main.ts");
const cleanEnv = { PATH: process.env.PATH ?? "" };

function runMain(args: readonly string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], { env: { ...cleanEnv, ...env }, encoding: "utf8", timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

void test("loadConfig: defaults, overrides and errors", () => {
  const defaults = loadConfig(["--dry-run"], {});
  assert.equal(defaults.kind, "run");
  assert.equal(defaults.config.eventsChannel, DEFAULT_EVENTS_CHANNEL);
  assert.equal(defaults.config.editIntervalMs, DEFAULT_EDIT_INTERVAL_MS);
  assert.equal(defaults.config.notifyChannelId, null);
  const custom = loadConfig([], { DISCORD_TOKEN: "t", DIGITS_NOTIFY_CHANNEL_ID: "42", DIGITS_EDIT_INTERVAL_MS: "2000", DIGITS_EVENTS_CHANNEL: "c" });
  assert.equal(custom.kind === "run" ? `${custom.config.notifyChannelId ?? ""} ${custom.config.editIntervalMs} ${custom.config.eventsChannel}` : "", "42 2000 c");
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

void test("--dry-run prints each rendered update instead of sending it", async () => {
  const channel = `cli-dry-run-${process.pid}`;
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--dry-run"], {
    env: { ...cleanEnv, DIGITS_EVENTS_CHANNEL: channel, REDIS_URL: "redis://127.0.0.1:6379" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const publisher = new Redis("redis://127.0.0.1:6379");
  try {
    const deadline = Date.now() + 20_000;
    while (!stdout.includes("Training started")) {
      assert.ok(Date.now() < deadline, `no dry-run output; got ${JSON.stringify(stdout)}`);
      await publisher.publish(channel, started({ request_id: "cli-job" }));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.match(stdout, /--- new message dry-1 in dm-9223372036854763462/);
    assert.match(stdout, /Request cli\\-job/);
  } finally {
    publisher.disconnect();
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
  }
});
