// Event text loses bidirectional controls and zero-width characters before it reaches Discord, and
// is clipped without splitting an escape.

import assert from "node:assert/strict";
import { test } from "node:test";
import { clip, escapeText } from "../../src/view/escape.ts";
import { renderJob } from "../../src/view/render.ts";
import type { JobState } from "../../src/jobs/state.ts";
import { jobState } from "../support/fixtures.ts";

/** U+202A–U+202E, U+2066–U+2069, U+200B–U+200D, plus the marks and joiners of the same kind. */
const INVISIBLE = [
  ...Array.from({ length: 5 }, (_, i) => 0x202a + i),
  ...Array.from({ length: 4 }, (_, i) => 0x2066 + i),
  ...Array.from({ length: 3 }, (_, i) => 0x200b + i),
  0x200e,
  0x200f,
  0x061c,
  0x2060,
  0xfeff,
  0x00ad,
].map((code) => String.fromCodePoint(code));

const base: JobState = jobState({ status: "failed", totalEpochs: 2 });

void test("every bidirectional control and zero-width character is removed", () => {
  for (const char of INVISIBLE) {
    const code = char.codePointAt(0)?.toString(16) ?? "?";
    assert.equal(escapeText(`a${char}b`), "ab", `U+${code} must not survive escaping`);
  }
  // The classic spoof: a right-to-left override makes "exe.gpj" read as "jpg.exe".
  assert.equal(escapeText("photo\u202Egpj.exe"), "photogpj\\.exe");
});

void test("a zero-width space smuggled between @ and everyone is replaced by our own break only", () => {
  assert.equal(escapeText("@\u200beveryone"), "@\u200beveryone");
  assert.equal(escapeText("@\u2066\u200beveryone"), "@\u200beveryone");
});

void test("titles and fields built from event text carry no invisible characters", () => {
  const hostile = INVISIBLE.join("x");
  const { embed } = renderJob({
    ...base,
    modelId: `model${hostile}`,
    requestId: `req${hostile}`,
    artifactPath: `artifacts/${hostile}`,
    failure: { kind: "user", message: `bad${hostile}` },
  });
  const text = [embed.title ?? "", embed.description ?? "", ...(embed.fields ?? []).flatMap((f) => [f.name, f.value])].join("\n");
  for (const char of INVISIBLE) {
    assert.ok(!text.includes(char), `U+${char.codePointAt(0)?.toString(16) ?? "?"} reached the embed`);
  }
  assert.match(embed.title ?? "", /modelxxxxx/);
});

void test("escaping drops invisible format characters and clips to nothing when there is no room", () => {
  assert.equal(escapeText("a\u202eb\u200dc\ufeff"), "abc");
  assert.equal(escapeText("abc", 0), "");
  assert.equal(escapeText("abc", -1), "");
  assert.equal(escapeText("abcdef", 4), "abc…");
  assert.equal(escapeText("ab", 2), "ab");
});

void test("clip leaves short text alone and cuts long text before an escape, never inside it", () => {
  assert.equal(clip("hello", 5), "hello");
  assert.equal(clip("hello world", 5), "hell…");
  assert.equal(clip("ab\\*cd", 4), "ab…");
  assert.equal(clip("ab\\\\cd", 5), "ab\\\\…", "an escaped backslash stays whole");
  assert.equal(clip("hello", 0), "");
});
