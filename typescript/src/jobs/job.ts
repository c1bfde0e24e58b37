// A job is one request of one user: (user_id, request_id). Keying by both keeps two users'
// requests apart even when they reuse a request id. A job has one or more runs (an RQ requeue or a
// retried request starts a new run, with a new run_id); each run has its own state and message.

import { STARTED_V1 } from "../generated/names.ts";
import type { DecodedEvent } from "../events/decode.ts";
import { foldEvent, isTerminal, type JobState } from "./state.ts";

export interface JobId {
  readonly userId: bigint;
  readonly requestId: string;
}

/** `<user_id>:<request_id>`: user ids are digits, so the first colon splits it unambiguously. */
export function jobKey(job: JobId): string {
  return `${job.userId.toString()}:${job.requestId}`;
}

/** The job an event belongs to. */
export function jobOf(decoded: DecodedEvent): JobId {
  return { userId: decoded.event.user_id, requestId: decoded.event.request_id };
}

/** Key of the message that shows run `run` (0 for the first) of a job. */
export function messageKeyFor(userId: bigint, requestId: string, run = 0): string {
  const key = jobKey({ userId, requestId });
  return run === 0 ? key : `${key}#${run}`;
}

/** The user a message key belongs to (the digits before the first colon). */
export function userOfMessageKey(key: string): bigint | null {
  const match = /^([0-9]{1,20}):/.exec(key);
  return match?.[1] === undefined ? null : BigInt(match[1]);
}

/**
 * Folds one event into a job's runs (oldest first) and returns the index of the run it changed,
 * or null when it changed nothing. A `started` with a run_id that no run has yet begins a new run
 * when the newest run has a run_id of its own or has ended; any other event goes to the run with
 * its run_id, else to the newest run. Folding the same event twice changes nothing the second time.
 */
export function foldRuns(runs: JobState[], decoded: DecodedEvent): number | null {
  const runId = decoded.kind === "v1" ? decoded.event.run_id : null;
  let index = runId === null ? -1 : runs.findIndex((run) => run.runId === runId);
  const newest = runs.length - 1;
  const last = runs[newest];
  const startsRun = decoded.kind === "v1" && decoded.event.type === STARTED_V1;
  // A run that has its own run_id, or has ended, is not the run a new `started` belongs to; but
  // a run only legacy events built (no run_id) is this run's legacy twin, which v1 replaces.
  const newRun =
    index === -1 && startsRun && last !== undefined && (last.runId !== null || (isTerminal(last.status) && last.source === "v1"));
  if (index === -1) index = newRun ? runs.length : Math.max(newest, 0);
  const result = foldEvent(runs[index], decoded);
  if (result.kind === "ignored") return null;
  runs[index] = result.state;
  return index;
}
