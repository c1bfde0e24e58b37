// loadConfig in-process: every setting's default, override and error (the log line format is
// test/shared/log.test.ts's).

import assert from "node:assert/strict";
import { hostname } from "node:os";
import { test } from "node:test";
import {
  type BotConfig,
  DEFAULT_CLAIM_IDLE_MS,
  DEFAULT_DISCORD_API_URL,
  DEFAULT_REDIS_URL,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  loadConfig,
} from "../../src/app/config.ts";
import { DEFAULT_DISCORD_MAX_RPS, DEFAULT_LEASE_MS, DEFAULT_SILENT_AFTER_S } from "../../src/shared/limits.ts";

const KEY = "a".repeat(64);

function config(argv: readonly string[], env: Record<string, string>): BotConfig {
  const result = loadConfig(argv, env);
  assert.equal(result.kind, "run", JSON.stringify(result));
  return result.config;
}

function error(env: Record<string, string>): string {
  const result = loadConfig(["--dry-run"], env);
  assert.equal(result.kind, "error");
  return result.message;
}

void test("defaults of a bot with a token: notify at end, Discord's limits, the default Redis and timings", () => {
  const bot = config([], { DISCORD_TOKEN: " token " });
  assert.equal(bot.discordToken, "token");
  assert.equal(bot.dryRun, false);
  assert.equal(bot.notifyAtEnd, true);
  assert.equal(bot.discordMaxRps, DEFAULT_DISCORD_MAX_RPS);
  assert.equal(bot.shutdownTimeoutMs, DEFAULT_SHUTDOWN_TIMEOUT_MS);
  assert.equal(bot.leaseMs, DEFAULT_LEASE_MS);
  assert.equal(bot.claimIdleMs, DEFAULT_CLAIM_IDLE_MS);
  assert.equal(bot.silentAfterS, DEFAULT_SILENT_AFTER_S);
  assert.equal(bot.discordApiUrl, DEFAULT_DISCORD_API_URL);
  assert.equal(bot.redisUrl, DEFAULT_REDIS_URL);
  assert.ok(bot.consumer.startsWith(`${hostname()}-${process.pid}-`), bot.consumer);
  assert.match(bot.consumer, /-[0-9a-f]{8}$/, "and a random part");
  assert.equal(bot.interactions, null);
});

void test("every setting can be overridden, and blank values mean the default", () => {
  const bot = config(["--dry-run"], {
    DIGITS_NOTIFY_AT_END: " FALSE ",
    DIGITS_DISCORD_MAX_RPS: "7",
    DIGITS_SHUTDOWN_TIMEOUT_MS: "0",
    DIGITS_BOT_LEASE_MS: "300",
    DIGITS_BOT_CLAIM_MS: "100",
    DIGITS_SILENT_AFTER_S: "1",
    DIGITS_BOT_GROUP: "bots.a_b-c",
    DISCORD_API_URL: "http://127.0.0.1:1/api",
    REDIS_URL: "redis://127.0.0.1:6380",
    DIGITS_EDIT_INTERVAL_MS: " ",
  });
  assert.deepEqual(
    [bot.notifyAtEnd, bot.discordMaxRps, bot.shutdownTimeoutMs, bot.leaseMs, bot.claimIdleMs, bot.silentAfterS],
    [false, 7, 0, 300, 100, 1],
  );
  assert.equal(bot.group, `bots.a_b-c-dry-run-${process.pid}`, "a dry run only prefixes its throwaway group with it");
  assert.equal(bot.throwawayGroup, true);
  assert.equal(bot.discordApiUrl, "http://127.0.0.1:1/api");
  assert.equal(bot.redisUrl, "redis://127.0.0.1:6380");
  assert.equal(bot.editIntervalMs, 1500);
  assert.equal(config(["--dry-run"], { DIGITS_NOTIFY_AT_END: "true" }).notifyAtEnd, true);
  assert.equal(loadConfig(["-h"], {}).kind, "help");
});

void test("each number setting names itself, its bound and the value when it is out of range or not whole", () => {
  assert.equal(error({ DIGITS_BOT_LEASE_MS: "299" }), 'DIGITS_BOT_LEASE_MS must be a whole number >= 300, got "299"');
  assert.equal(error({ DIGITS_BOT_GROUP: "a:b" }), `DIGITS_BOT_GROUP must be 1-64 letters, digits, '.', '_' or '-', got "a:b"`);
  const noToken = loadConfig([], { DISCORD_TOKEN: "  " });
  assert.equal(noToken.kind === "error" ? noToken.message : "", "DISCORD_TOKEN is not set (use --dry-run to print updates instead)");
  const unknown = loadConfig(["--dry-run", "--verbose"], {});
  assert.equal(unknown.kind === "error" ? unknown.message : "", 'unknown argument "--verbose" (try --help)');
  assert.equal(error({ DIGITS_NOTIFY_AT_END: "yes" }), 'DIGITS_NOTIFY_AT_END must be true or false, got "yes"');
  assert.equal(error({ DIGITS_DISCORD_MAX_RPS: "0" }), 'DIGITS_DISCORD_MAX_RPS must be a whole number >= 1, got "0"');
  assert.equal(error({ DIGITS_DISCORD_MAX_RPS: "2.5" }), 'DIGITS_DISCORD_MAX_RPS must be a whole number >= 1, got "2.5"');
  assert.equal(error({ DIGITS_SHUTDOWN_TIMEOUT_MS: "-1" }), 'DIGITS_SHUTDOWN_TIMEOUT_MS must be a whole number >= 0, got "-1"');
  assert.equal(error({ DIGITS_BOT_CLAIM_MS: "99" }), 'DIGITS_BOT_CLAIM_MS must be a whole number >= 100, got "99"');
  assert.equal(error({ DIGITS_SILENT_AFTER_S: "0" }), 'DIGITS_SILENT_AFTER_S must be a whole number >= 1, got "0"');
  assert.equal(error({ DIGITS_EDIT_INTERVAL_MS: "-1" }), 'DIGITS_EDIT_INTERVAL_MS must be a whole number >= 0, got "-1"');
  assert.equal(
    error({ DIGITS_NOTIFY_CHANNEL_ID: "1".repeat(21) }),
    `DIGITS_NOTIFY_CHANNEL_ID must be a Discord id (digits), got "${"1".repeat(21)}"`,
  );
});

void test("the interactions endpoint is on with a public key and an application id, and its errors stop the start", () => {
  const on = config([], { DISCORD_TOKEN: "t", DISCORD_PUBLIC_KEY: KEY, DISCORD_APPLICATION_ID: "123", DIGITS_INTERACTIONS_PORT: "0" });
  assert.equal(on.interactions?.publicKeyHex, KEY);
  assert.equal(on.interactions.applicationId, "123");
  assert.equal(on.interactions.port, 0);
  assert.match(error({ DISCORD_PUBLIC_KEY: "xyz" }), /^DISCORD_PUBLIC_KEY must be the 64 hex digits/);
  assert.match(error({ DISCORD_PUBLIC_KEY: KEY }), /^DISCORD_APPLICATION_ID must be the application's id/);
});

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
