// Generated garbage: random bytes, random text and mutated valid events. The loop survives,
// counts every message, and whatever it accepts renders within Discord's limits.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Coordinator } from "../../src/relay/coordinator.ts";
import { MemoryJobStore } from "../../src/jobs/job_store.ts";
import { foldRuns } from "../../src/jobs/job.ts";
import type { JobState } from "../../src/jobs/state.ts";
import { decodeEventBytes } from "../../src/events/decode.ts";
import { DISCORD_LIMITS } from "../../src/shared/limits.ts";
import { Delivery } from "../../src/discord/delivery.ts";
import { RequestScheduler } from "../../src/discord/scheduler.ts";
import { silentLogger } from "../../src/shared/log.ts";
import { MemoryMessageStore } from "../../src/discord/message_store.ts";
import { embedLength, renderJob } from "../../src/view/render.ts";
import { batch, best, completed, epochDone, eventText, failed, legacyText, started } from "../support/fixtures.ts";
import { FakePort } from "../support/fake_port.ts";

/** Small seeded PRNG (mulberry32) so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS = [1, 2, 3];

const PER_SEED = 1500;

const JOBS = 20;

const VALID = [
  started(),
  batch(1, 2),
  epochDone(1, 0.9),
  best(1, 0.9),
  completed(),
  failed("user", "bad **epochs** @everyone"),
  eventText("digits.train.upload.v1", { status: 200, model_bytes: 10, manifest_bytes: 2 }),
  eventText("digits.train.artifact.v1", { path: "a/b" }),
  eventText("digits.train.prune.v1", { deleted_count: 2 }),
  legacyText("progress", { epoch: 1, total_epochs: 2, val_acc: null }),
  legacyText("completed", { run_id: "r", val_acc: 1 }),
];

const TOKENS = [
  "",
  "null",
  "true",
  "-1",
  "1e400",
  "0.5",
  "1.5",
  "9007199254740993",
  "18446744073709551616",
  '"x"',
  "[]",
  "{}",
  '"\\u0000"',
  '"@everyone"',
  "NaN",
];

function mutate(text: string, random: () => number): string {
  const pick = (items: readonly string[]): string => items[Math.floor(random() * items.length)] ?? "";
  const at = Math.floor(random() * (text.length + 1));
  switch (Math.floor(random() * 6)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1); // drop a character
    case 1:
      return text.slice(0, at) + String.fromCharCode(Math.floor(random() * 0x3000)) + text.slice(at); // insert one
    case 2:
      return text.slice(0, at); // truncate
    case 3: // replace a value with another token
      return text.replace(/:([^,{}]+)/g, (match) => (random() < 0.2 ? `:${pick(TOKENS)}` : match));
    case 4: // rename or add a key
      return random() < 0.5
        ? text.replace(/"([a-z_]+)":/, `"${pick(["typ", "extra", "user_id", "__proto__", "type"])}":`)
        : text.replace("{", '{"extra":1,');
    default:
      return text + text.slice(0, at); // trailing junk
  }
}

function garbage(random: () => number): Uint8Array | string {
  const kind = random();
  if (kind < 0.2) return Uint8Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256));
  if (kind < 0.35)
    return Array.from({ length: Math.floor(random() * 200) }, () => String.fromCharCode(Math.floor(random() * 0xffff))).join("");
  // Spread over a few jobs, so that not everything lands after one job's terminal event.
  let text = (VALID[Math.floor(random() * VALID.length)] ?? "").replace("req-1", `req-${Math.floor(random() * JOBS)}`);
  const rounds = 1 + Math.floor(random() * 3);
  for (let round = 0; round < rounds; round += 1) text = mutate(text, random);
  return random() < 0.5 ? Buffer.from(text) : text;
}

for (const seed of SEEDS) {
  void test(`the loop survives ${PER_SEED} generated messages (seed ${seed})`, async () => {
    const port = new FakePort();
    // No rate limits: this test is about the loop surviving garbage, not about Discord's pace.
    const scheduler = new RequestScheduler({ maxRps: 1_000_000, channelBurst: 1_000_000, safetyMs: 0 });
    const delivery = new Delivery({ port, store: new MemoryMessageStore(), logger: silentLogger, editIntervalMs: 0, scheduler });
    const logged: string[] = [];
    const store = new MemoryJobStore();
    const coordinator = new Coordinator({
      store,
      delivery,
      logger: { info: () => undefined, warn: (line: string) => logged.push(line) },
      owner: "garbage",
    });
    const random = rng(seed);
    const entries = [];
    for (let index = 0; index < PER_SEED; index += 1) {
      const item = garbage(random);
      entries.push({ id: `${index + 1}-0`, event: Buffer.from(item) });
    }
    await coordinator.handle(entries);
    await coordinator.tick();
    const { received, invalid, updates, errors } = coordinator.stats;
    assert.equal(received, PER_SEED);
    assert.equal(
      errors,
      0,
      logged.find((line) => line.includes("failed")),
    );
    assert.ok(invalid > PER_SEED / 2, `most garbage is refused (${invalid})`);
    assert.ok(updates > 0, "some mutations stay valid and are shown");
    // Logged snippets are shortened, whatever the input size.
    for (const line of logged) assert.ok(line.length < 600, `log line of ${line.length} chars`);
    await delivery.whenIdle();
    // Whatever was accepted renders within Discord's limits.
    const runs: JobState[] = [];
    for (const entry of entries) {
      const decoded = decodeEventBytes(entry.event);
      if (decoded.kind !== "invalid") foldRuns(runs, decoded);
    }
    for (const state of runs) assert.ok(embedLength(renderJob(state).embed) <= DISCORD_LIMITS.embedTotal);
  });
}
