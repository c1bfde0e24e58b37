// The interactions endpoint's settings: each number and id list checked, the first problem reported.

import assert from "node:assert/strict";
import { test } from "node:test";
import { loadInteractionSettings } from "../../src/interactions/settings.ts";

void test("settings: each number and id list is checked, the first problem is the one reported, the rest are read", () => {
  const key = "ab".repeat(32);
  const base = { DISCORD_PUBLIC_KEY: key, DISCORD_APPLICATION_ID: "1" };
  const cases: [Record<string, string>, string][] = [
    [
      { DIGITS_INTERACTIONS_PORT: "70000" },
      'DIGITS_INTERACTIONS_PORT must be a whole number from 0 to 65535, got "70000"; unset it for 8787',
    ],
    [
      { DIGITS_INTERACTION_MAX_AGE_S: "1.5" },
      'DIGITS_INTERACTION_MAX_AGE_S must be a whole number from 1 to 3600, got "1.5"; unset it for 300',
    ],
    [{ DIGITS_MAX_JOBS_TOTAL: "lots" }, 'DIGITS_MAX_JOBS_TOTAL must be a whole number from 1 to 100000, got "lots"; unset it for 20'],
    [{ DIGITS_ACTIVE_JOB_TTL_S: "59" }, 'DIGITS_ACTIVE_JOB_TTL_S must be a whole number from 60 to 2592000, got "59"; unset it for 21600'],
    [
      { DIGITS_ALLOWED_CHANNEL_IDS: "5,#general" },
      'DIGITS_ALLOWED_CHANNEL_IDS must be comma-separated Discord ids (digits), got "#general"',
    ],
    // Several problems: the one read first.
    [
      { DIGITS_MAX_JOBS_PER_USER: "0", DIGITS_ALLOWED_GUILD_IDS: "x" },
      'DIGITS_MAX_JOBS_PER_USER must be a whole number from 1 to 1000, got "0"; unset it for 2',
    ],
    [
      { DISCORD_PUBLIC_KEY: "00", DISCORD_APPLICATION_ID: "app", DIGITS_INTERACTIONS_PORT: "-1" },
      "DISCORD_PUBLIC_KEY must be the 64 hex digits of the application's public key (Developer Portal, General Information)",
    ],
    [
      { DISCORD_APPLICATION_ID: "app", DIGITS_INTERACTIONS_PORT: "-1" },
      `DISCORD_APPLICATION_ID must be the application's id (digits) when DISCORD_PUBLIC_KEY is set, got "app"`,
    ],
  ];
  for (const [env, message] of cases) assert.deepEqual(loadInteractionSettings({ ...base, ...env }), { kind: "error", message });
  assert.deepEqual(loadInteractionSettings({ DISCORD_PUBLIC_KEY: "  " }), { kind: "off" });
  const on = loadInteractionSettings({
    ...base,
    DIGITS_INTERACTIONS_HOST: " 0.0.0.0 ",
    DIGITS_INTERACTIONS_PORT: "0",
    DIGITS_REQUESTS_STREAM: "my:requests",
    DIGITS_ACTIVE_JOB_TTL_S: "60",
    DIGITS_ALLOWED_GUILD_IDS: "900",
    DIGITS_ALLOWED_CHANNEL_IDS: "901, 902",
  });
  assert.ok(on.kind === "on");
  assert.equal(on.settings.host, "0.0.0.0");
  assert.equal(on.settings.port, 0);
  assert.equal(on.settings.requestsStream, "my:requests");
  assert.equal(on.settings.activeJobTtlS, 60);
  assert.deepEqual([...on.settings.allowedGuildIds], ["900"]);
  assert.deepEqual([...on.settings.allowedChannelIds], ["901", "902"]);
  assert.equal(on.settings.applicationId, "1");
});
