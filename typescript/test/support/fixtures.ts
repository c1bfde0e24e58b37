// Event builders shared by the tests: valid JSON text as the trainer would publish it; and a job
// state to render.

import { decodeEvent, type DecodedEvent } from "../../src/events/decode.ts";
import { foldEvent, type JobState } from "../../src/jobs/state.ts";

export const BIG_USER_ID = "9223372036854763462"; // above 2^53: a float would turn it into ...3464
export const TS = "2026-11-28T16:00:00.123456Z";

type Fields = Record<string, string | number | boolean | null>;

/** JSON text with `user_id` written as raw digits (JSON.stringify cannot write a bigint). */
export function eventText(type: string, fields: Fields, userId = BIG_USER_ID): string {
  const body = JSON.stringify({ type, request_id: "req-1", model_id: "digits", run_id: "run-1", ts: TS, ...fields });
  return body.replace(/^\{/, `{"user_id":${userId},`);
}

export function legacyText(type: string, fields: Fields, userId = "42"): string {
  const body = JSON.stringify({ type, request_id: "req-1", model_id: "digits", ...fields });
  return body.replace(/^\{/, `{"user_id":${userId},`);
}

export const started = (fields: Fields = {}): string => eventText("digits.train.started.v1", { total_epochs: 3, ...fields });
export const batch = (epoch: number, b: number, fields: Fields = {}): string =>
  eventText("digits.train.batch.v1", {
    epoch,
    total_epochs: 3,
    batch: b,
    total_batches: 100,
    batch_loss: 0.25,
    batch_acc: 0.9375,
    avg_loss: 0.3,
    samples_per_sec: 12345.6,
    ...fields,
  });
export const epochDone = (epoch: number, valAcc: number, fields: Fields = {}): string =>
  eventText("digits.train.epoch.v1", { epoch, total_epochs: 3, train_loss: 0.2, val_acc: valAcc, time_s: 12.34, ...fields });
export const best = (epoch: number, valAcc: number, fields: Fields = {}): string =>
  eventText("digits.train.best.v1", { epoch, val_acc: valAcc, ...fields });
export const completed = (valAcc = 0.9812, fields: Fields = {}): string =>
  eventText("digits.train.completed.v1", { val_acc: valAcc, ...fields });
export const failed = (kind: "user" | "system", message: string, fields: Fields = {}): string =>
  eventText("digits.train.failed.v1", { error_kind: kind, message, ...fields });

/** A v1 job of user 42 in training with nothing folded yet; `fields` change what a test needs. */
export function jobState(fields: Partial<JobState> = {}): JobState {
  return {
    requestId: "req-1",
    userId: 42n,
    modelId: "digits",
    runId: "run-1",
    source: "v1",
    status: "training",
    totalEpochs: 5,
    lastBatch: null,
    epochs: [],
    best: null,
    artifactPath: null,
    upload: null,
    prunedCount: null,
    finalValAcc: null,
    failure: null,
    ...fields,
  };
}

/** The decoded event of a valid fixture text (throws on an invalid one: a broken fixture). */
export function ev(text: string): DecodedEvent {
  const result = decodeEvent(text);
  if (result.kind === "invalid") throw new Error(`fixture invalid: ${result.reason}`);
  return result;
}

/** Every state the bot holds while it folds `events` in order (texts are decoded first). */
export function foldStates(events: readonly (string | DecodedEvent)[]): JobState[] {
  const states: JobState[] = [];
  let state: JobState | undefined;
  for (const item of events) {
    const result = foldEvent(state, typeof item === "string" ? ev(item) : item);
    if (result.kind === "updated") state = result.state;
    if (state !== undefined) states.push(state);
  }
  return states;
}

/** The state after folding `events` in order (texts are decoded first). */
export function foldAll(events: readonly (string | DecodedEvent)[]): JobState {
  const state = foldStates(events).at(-1);
  if (state === undefined) throw new Error("no state");
  return state;
}
