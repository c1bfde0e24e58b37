// `npm run bench`: decode + fold throughput of the bot (events/s) -> ../bench/results/bot.json.
// Delivery is not measured: it is bounded by Discord's rate limits, not by CPU.

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { decodeEvent } from "../src/events/decode.ts";
import { foldRuns, jobKey, jobOf } from "../src/jobs/job.ts";
import type { JobState } from "../src/jobs/state.ts";
import { renderJob } from "../src/view/render.ts";

const OUT = join(import.meta.dirname, "..", "..", "bench", "results", "bot.json");
const JOBS = 100;
const EPOCHS = 3;
const BATCH_EVENTS_PER_EPOCH = 50;
const ROUNDS = 7;
const USER_ID = "9223372036854763462";

function event(type: string, job: number, fields: Record<string, string | number | null>): string {
  const body = JSON.stringify({
    type,
    request_id: `bench-${job}`,
    model_id: "digits",
    run_id: "20261128T160000Z-a1b2c3",
    ts: "2026-11-28T16:00:00.123456Z",
    ...fields,
  });
  return body.replace(/^\{/, `{"user_id":${USER_ID},`);
}

/** A realistic stream: what the trainer publishes for JOBS jobs, interleaved. */
function stream(): string[] {
  const perJob: string[][] = [];
  for (let job = 0; job < JOBS; job += 1) {
    const events = [event("digits.train.started.v1", job, { total_epochs: EPOCHS })];
    for (let epoch = 1; epoch <= EPOCHS; epoch += 1) {
      for (let b = 1; b <= BATCH_EVENTS_PER_EPOCH; b += 1) {
        events.push(
          event("digits.train.batch.v1", job, {
            epoch,
            total_epochs: EPOCHS,
            batch: b * 18,
            total_batches: 900,
            batch_loss: 0.1234 + b / 1000,
            batch_acc: 0.96875,
            avg_loss: 0.2,
            samples_per_sec: 12345.6,
          }),
        );
      }
      events.push(
        event("digits.train.epoch.v1", job, { epoch, total_epochs: EPOCHS, train_loss: 0.1, val_acc: 0.97 + epoch / 1000, time_s: 12.5 }),
      );
      events.push(event("digits.train.best.v1", job, { epoch, val_acc: 0.97 + epoch / 1000 }));
    }
    events.push(event("digits.train.artifact.v1", job, { path: `artifacts/digits/bench-${job}` }));
    events.push(event("digits.train.upload.v1", job, { status: 201, model_bytes: 1_700_000, manifest_bytes: 900 }));
    events.push(event("digits.train.prune.v1", job, { deleted_count: 2 }));
    events.push(event("digits.train.completed.v1", job, { val_acc: 0.973 }));
    perJob.push(events);
  }
  const out: string[] = [];
  for (let index = 0; index < (perJob[0]?.length ?? 0); index += 1) for (const events of perJob) out.push(events[index] ?? "");
  return out;
}

function measure(
  name: string,
  texts: readonly string[],
  body: (texts: readonly string[]) => number,
): { name: string; events_per_s: number; rounds_events_per_s: number[] } {
  body(texts); // warm-up
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const start = process.hrtime.bigint();
    const handled = body(texts);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (handled !== texts.length) throw new Error(`${name}: handled ${handled} of ${texts.length}`);
    rates.push(Math.round(texts.length / seconds));
  }
  const sorted = [...rates].sort((a, b) => a - b);
  return { name, events_per_s: sorted[Math.floor(sorted.length / 2)] ?? 0, rounds_events_per_s: rates };
}

const decodeOnly = (texts: readonly string[]): number => {
  let ok = 0;
  for (const text of texts) if (decodeEvent(text).kind !== "invalid") ok += 1;
  return ok;
};

/** The coordinator's fold: each job's runs, found by (user_id, request_id). */
const decodeFold = (texts: readonly string[]): number => {
  const jobs = new Map<string, JobState[]>();
  let updated = 0;
  for (const text of texts) {
    const decoded = decodeEvent(text);
    if (decoded.kind === "invalid") continue;
    const key = jobKey(jobOf(decoded));
    const runs = jobs.get(key) ?? [];
    jobs.set(key, runs);
    if (foldRuns(runs, decoded) !== null) updated += 1;
  }
  return updated;
};

const decodeFoldRender = (texts: readonly string[]): number => {
  const jobs = new Map<string, JobState[]>();
  let rendered = 0;
  for (const text of texts) {
    const decoded = decodeEvent(text);
    if (decoded.kind === "invalid") continue;
    const key = jobKey(jobOf(decoded));
    const runs = jobs.get(key) ?? [];
    jobs.set(key, runs);
    const run = foldRuns(runs, decoded);
    const state = run === null ? undefined : runs[run];
    if (state !== undefined && renderJob(state).embed.title !== undefined) rendered += 1;
  }
  return rendered;
};

const texts = stream();
const results = [
  measure("decode", texts, decodeOnly),
  measure("decode+fold", texts, decodeFold),
  measure("decode+fold+render", texts, decodeFoldRender),
];
const report = {
  benchmark: "bot decode+fold throughput",
  unit: "events/s (median of rounds)",
  events_per_round: texts.length,
  rounds: ROUNDS,
  stream: { jobs: JOBS, epochs: EPOCHS, batch_events_per_epoch: BATCH_EVENTS_PER_EPOCH, user_id_above_2_53: true },
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  cpus: cpus().length,
  results,
};
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`);
for (const result of results) process.stdout.write(`${result.name.padEnd(20)} ${result.events_per_s.toLocaleString("en-US")} events/s\n`);
process.stdout.write(`wrote ${OUT}\n`);
