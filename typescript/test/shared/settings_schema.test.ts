// settings_schema.ts and settings_kinds.ts: --help and deploy/digits.env.example are the schema's
// (they fail here when they drift), and each kind's error names the variable, the bad value
// (never a secret's) and the fix.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { z } from "zod";
import { USAGE } from "../../src/app/config.ts";
import { describe, helpText, readSettings, whole } from "../../src/shared/settings_kinds.ts";
import { BOT_SETTINGS, EXAMPLE_TITLE, exampleSection, INTERACTION_SETTINGS, PREDICT_SETTINGS } from "../../src/shared/settings_schema.ts";

const EXAMPLE = readFileSync(join(import.meta.dirname, "..", "..", "..", "deploy", "digits.env.example"), "utf8");

const ALL = [BOT_SETTINGS, INTERACTION_SETTINGS, PREDICT_SETTINGS].flatMap((shape) => describe(shape));

void test("deploy/digits.env.example's bot part is the schema's (run `npm run env-example` after a change)", () => {
  const at = EXAMPLE.indexOf(EXAMPLE_TITLE);
  assert.ok(at > 0, `${EXAMPLE_TITLE} is missing`);
  assert.equal(EXAMPLE.slice(at), exampleSection());
  for (const [name, doc] of ALL) {
    // Each setting is set once in the file: the bot's own in its part, shared ones in the Python part.
    const lines = EXAMPLE.match(new RegExp(`^#?${name}=.*$`, "gm")) ?? [];
    assert.equal(lines.length, 1, `${name}: ${JSON.stringify(lines)}`);
    assert.equal(EXAMPLE.indexOf(lines.join("")) < at, doc.shared === true, `${name} is in the wrong part`);
    if (doc.secret === true) assert.equal(lines.join(""), `#${name}=`, "a secret has no example value");
  }
});

void test("--help lists every setting once, with its description and default", () => {
  const environment = USAGE.split("\nEnvironment:\n")[1] ?? "";
  const names = [...environment.matchAll(/^ {2}([A-Z][A-Z0-9_]+)\s/gm)].map((match) => match[1]);
  assert.deepEqual(
    names,
    ALL.map(([name]) => name),
  );
  const lines = environment.replace(/\n {28}/g, "").split("\n");
  for (const [name, doc] of ALL) assert.ok(lines.includes(`  ${name.padEnd(26)}${helpText(doc)}`), name);
  assert.match(environment, /^ {2}DIGITS_BOT_LEASE_MS +a dead bot's jobs are taken over after this long, default 15000$/m);
});

void test("bounds: each whole number setting refuses a value outside them, naming itself, the value and the default", () => {
  const cases: [Readonly<Record<string, string>>, string][] = [
    [{ DIGITS_BOT_LEASE_MS: "299" }, 'DIGITS_BOT_LEASE_MS must be a whole number >= 300, got "299"'],
    [{ DIGITS_EDIT_INTERVAL_MS: "1e400" }, 'DIGITS_EDIT_INTERVAL_MS must be a whole number >= 0, got "1e400"'],
    [{ EVENTS__STREAM_MAXLEN: "999" }, 'EVENTS__STREAM_MAXLEN must be a whole number >= 1000, got "999"'],
    [{ DIGITS_NOTIFY_AT_END: "Yes" }, 'DIGITS_NOTIFY_AT_END must be true or false, got "yes"'],
  ];
  for (const [env, message] of cases) assert.deepEqual(readSettings(BOT_SETTINGS, env), { ok: false, message });
  const key = { DISCORD_PUBLIC_KEY: "ab".repeat(32), DISCORD_APPLICATION_ID: "1" };
  assert.deepEqual(readSettings(INTERACTION_SETTINGS, { ...key, DIGITS_INTERACTIONS_PORT: "65536" }), {
    ok: false,
    message: 'DIGITS_INTERACTIONS_PORT must be a whole number from 0 to 65535, got "65536"; unset it for 8787',
  });
  assert.deepEqual(readSettings(PREDICT_SETTINGS, { DIGITS_PREDICTS_PER_MINUTE: "100001" }), {
    ok: false,
    message: 'DIGITS_PREDICTS_PER_MINUTE must be a whole number from 1 to 100000, got "100001"; unset it for 6',
  });
  // The bounds themselves are accepted.
  const edges = readSettings(INTERACTION_SETTINGS, { ...key, DIGITS_INTERACTIONS_PORT: "65535", DIGITS_INTERACTION_MAX_AGE_S: "3600" });
  assert.ok(edges.ok);
  assert.deepEqual([edges.values.DIGITS_INTERACTIONS_PORT, edges.values.DIGITS_INTERACTION_MAX_AGE_S], [65535, 3600]);
});

void test("a secret's bad value is never repeated in the error", () => {
  const secret = "deadbeef-not-a-key";
  const read = readSettings(INTERACTION_SETTINGS, { DISCORD_PUBLIC_KEY: secret, DISCORD_APPLICATION_ID: "1" });
  assert.ok(!read.ok);
  assert.match(read.message, /^DISCORD_PUBLIC_KEY must be the 64 hex digits/);
  assert.ok(!read.message.includes(secret), read.message);
  const hidden = { APP_SECRET: whole({ help: "h", default: "1", secret: true }, 1) };
  assert.deepEqual(readSettings(hidden, { APP_SECRET: "0s3cret" }), { ok: false, message: "APP_SECRET must be a whole number >= 1" });
});

void test("a schema built without a kind has no description, and describing it says so", () => {
  assert.throws(() => describe({ BARE: z.string().optional() }), /BARE has no description: build it with a kind of settings_kinds.ts/);
});
