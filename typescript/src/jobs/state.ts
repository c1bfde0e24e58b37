// The state of one job, folded from its events by a pure reducer.

import {
  ARTIFACT_V1,
  BATCH_V1,
  BEST_V1,
  COMPLETED_V1,
  EPOCH_V1,
  FAILED_V1,
  LEGACY_COMPLETED,
  LEGACY_FAILED,
  LEGACY_PROGRESS,
  LEGACY_STARTED,
  PRUNE_V1,
  STARTED_V1,
  UPLOAD_V1,
} from "../generated/names.ts";
import type { DecodedEvent } from "../events/decode.ts";
import type { DigitsEventV1, LegacyEvent } from "../generated/contracts.ts";
import { MAX_EPOCH_LINES } from "../shared/limits.ts";

export type JobStatus = "started" | "training" | "completed" | "failed";

export interface EpochLine {
  readonly epoch: number;
  readonly valAcc: number | null;
  readonly timeS: number | null;
}

export interface BatchProgress {
  readonly epoch: number;
  readonly batch: number;
  readonly totalBatches: number;
  readonly batchLoss: number;
  readonly batchAcc: number;
  readonly samplesPerSec: number;
}

export interface Upload {
  readonly status: number;
  readonly modelBytes: number;
  readonly manifestBytes: number;
}

/** Pace measured from event timestamps (ms since the epoch), so the same events give the same ETA. */
export interface Timing {
  readonly startedAtMs: number;
  /** Newest event time seen; elapsed time is measured up to it. */
  readonly lastAtMs: number;
  /** Global batch number ((epoch - 1) * total_batches + batch) of the newest batch event, and its time. */
  readonly lastBatchIndex: number | null;
  readonly lastBatchAtMs: number | null;
  /** Exponentially weighted mean of seconds per batch; null until two batch events were seen. */
  readonly secondsPerBatch: number | null;
  readonly totalBatches: number | null;
}

/** What the chart draws: each finished epoch, and the batch loss curve within the epochs. */
export interface History {
  readonly epochs: readonly { readonly epoch: number; readonly valAcc: number; readonly trainLoss: number }[];
  /** `at` is the position in epochs (epoch 2, batch 50 of 100 → 1.5), strictly increasing. */
  readonly batchLoss: readonly { readonly at: number; readonly loss: number }[];
}

export interface JobState {
  readonly requestId: string;
  readonly userId: bigint;
  readonly modelId: string;
  readonly runId: string | null;
  /** Which stream built this state; a v1 event replaces a legacy-built state. */
  readonly source: "v1" | "legacy";
  readonly status: JobStatus;
  readonly totalEpochs: number | null;
  readonly lastBatch: BatchProgress | null;
  /** Finished epochs in ascending order. */
  readonly epochs: readonly EpochLine[];
  readonly best: { readonly epoch: number; readonly valAcc: number } | null;
  readonly artifactPath: string | null;
  readonly upload: Upload | null;
  readonly prunedCount: number | null;
  readonly finalValAcc: number | null;
  readonly failure: { readonly kind: "user" | "system"; readonly message: string } | null;
  /** Optional so that states written before timing existed stay valid. */
  readonly timing?: Timing;
  readonly history?: History;
}

export type FoldResult =
  | { readonly kind: "updated"; readonly state: JobState }
  | { readonly kind: "ignored"; readonly reason: "after-terminal" | "legacy-after-v1" };

export function isTerminal(status: JobStatus): boolean {
  return status === "completed" || status === "failed";
}

function initial(event: DigitsEventV1 | LegacyEvent, source: "v1" | "legacy"): JobState {
  return {
    requestId: event.request_id,
    userId: event.user_id,
    modelId: event.model_id,
    runId: null,
    source,
    status: "started",
    totalEpochs: null,
    lastBatch: null,
    epochs: [],
    best: null,
    artifactPath: null,
    upload: null,
    prunedCount: null,
    finalValAcc: null,
    failure: null,
  };
}

/** Inserts or replaces the line for one epoch, keeping order and a bounded length. */
function withEpoch(lines: readonly EpochLine[], line: EpochLine): readonly EpochLine[] {
  const kept = lines.filter((existing) => existing.epoch !== line.epoch);
  kept.push(line);
  kept.sort((a, b) => a.epoch - b.epoch);
  return kept.length > MAX_EPOCH_LINES ? kept.slice(kept.length - MAX_EPOCH_LINES) : kept;
}

function foldV1(state: JobState, event: DigitsEventV1): JobState {
  // run_id may appear late; a null never erases one we already know.
  const base = { ...state, runId: event.run_id ?? state.runId, ...timed(state, event) };
  switch (event.type) {
    case STARTED_V1:
      return { ...base, totalEpochs: event.total_epochs };
    case BATCH_V1:
      // An older batch event delivered late (a redelivery, another bot's share) moves nothing back.
      if (
        state.lastBatch !== null &&
        (state.lastBatch.epoch > event.epoch || (state.lastBatch.epoch === event.epoch && state.lastBatch.batch >= event.batch))
      ) {
        return { ...base, status: "training" };
      }
      return {
        ...base,
        status: "training",
        totalEpochs: event.total_epochs,
        lastBatch: {
          epoch: event.epoch,
          batch: event.batch,
          totalBatches: event.total_batches,
          batchLoss: event.batch_loss,
          batchAcc: event.batch_acc,
          samplesPerSec: event.samples_per_sec,
        },
      };
    case EPOCH_V1:
      return {
        ...base,
        status: "training",
        totalEpochs: event.total_epochs,
        epochs: withEpoch(state.epochs, { epoch: event.epoch, valAcc: event.val_acc, timeS: event.time_s }),
      };
    case BEST_V1:
      return { ...base, status: "training", best: { epoch: event.epoch, valAcc: event.val_acc } };
    case ARTIFACT_V1:
      return { ...base, status: "training", artifactPath: event.path };
    case UPLOAD_V1:
      return {
        ...base,
        status: "training",
        upload: { status: event.status, modelBytes: event.model_bytes, manifestBytes: event.manifest_bytes },
      };
    case PRUNE_V1:
      return { ...base, status: "training", prunedCount: event.deleted_count };
    case COMPLETED_V1:
      return { ...base, status: "completed", finalValAcc: event.val_acc };
    case FAILED_V1:
      return { ...base, status: "failed", failure: { kind: event.error_kind, message: event.message } };
  }
}

function foldLegacy(state: JobState, event: LegacyEvent): JobState {
  switch (event.type) {
    case LEGACY_STARTED:
      return { ...state, totalEpochs: event.total_epochs };
    case LEGACY_PROGRESS:
      return {
        ...state,
        status: "training",
        totalEpochs: event.total_epochs,
        epochs: withEpoch(state.epochs, { epoch: event.epoch, valAcc: event.val_acc, timeS: null }),
      };
    case LEGACY_COMPLETED:
      return { ...state, status: "completed", runId: event.run_id, finalValAcc: event.val_acc };
    case LEGACY_FAILED:
      return { ...state, status: "failed", failure: { kind: event.error_kind, message: event.message } };
  }
}

/**
 * Folds one event into the state of its job (undefined when the job is new).
 * Events after a terminal event are ignored; so are legacy events once the job has sent v1. A
 * job that sends both is shown as its v1 events tell it ("preferring .v1"), whichever arrives
 * first: its first v1 event replaces what legacy events built, even a legacy terminal state.
 */
export function foldEvent(state: JobState | undefined, decoded: DecodedEvent): FoldResult {
  const replacesLegacy = decoded.kind === "v1" && state?.source === "legacy";
  if (state !== undefined && isTerminal(state.status) && !replacesLegacy) return { kind: "ignored", reason: "after-terminal" };
  if (decoded.kind === "legacy") {
    if (state?.source === "v1") return { kind: "ignored", reason: "legacy-after-v1" };
    return { kind: "updated", state: foldLegacy(state ?? initial(decoded.event, "legacy"), decoded.event) };
  }
  // The v1 stream is the richer account of the same job: what legacy events built is dropped.
  const start = state?.source === "v1" ? state : initial(decoded.event, "v1");
  return { kind: "updated", state: foldV1(start, decoded.event) };
}

/** Job-wide progress from 0 to 1 across epochs and batches. */
export function progressFraction(state: JobState): number {
  if (state.status === "completed") return 1;
  const total = state.totalEpochs;
  if (total === null || total <= 0) return 0;
  const lastFinished = state.epochs.at(-1)?.epoch ?? 0;
  let fraction = lastFinished / total;
  const batch = state.lastBatch;
  if (batch !== null) {
    const withinEpoch = Math.min(batch.batch / batch.totalBatches, 1);
    fraction = Math.max(fraction, (batch.epoch - 1 + withinEpoch) / total);
  }
  return Math.min(Math.max(fraction, 0), 1);
}

/** The epoch to mark as best: the latest best event, else the highest val_acc seen. */
export function bestEpoch(state: JobState): number | null {
  if (state.best !== null) return state.best.epoch;
  let best: EpochLine | null = null;
  for (const line of state.epochs) {
    if (line.valAcc !== null && (best === null || best.valAcc === null || line.valAcc > best.valAcc)) best = line;
  }
  return best?.epoch ?? null;
}

/** Weight of the newest batch in the seconds-per-batch average (per batch advanced). */
export const PACE_SMOOTHING = 0.1;
/** Batch loss points kept for the chart (its plot is 416 units wide); beyond it, neighbours are averaged in pairs. */
export const MAX_LOSS_POINTS = 256;

/** The timing and history after `event` (folded into the state with one spread). */
function timed(state: JobState, event: DigitsEventV1): Pick<JobState, "timing" | "history"> {
  const timing = nextTiming(state.timing, event);
  const history = nextHistory(state.history, event);
  return timing === undefined ? { history } : { timing, history };
}

function nextTiming(previous: Timing | undefined, event: DigitsEventV1): Timing | undefined {
  const at = Date.parse(event.ts);
  if (Number.isNaN(at)) return previous;
  let timing: Timing =
    previous === undefined
      ? { startedAtMs: at, lastAtMs: at, lastBatchIndex: null, lastBatchAtMs: null, secondsPerBatch: null, totalBatches: null }
      : { ...previous, startedAtMs: Math.min(previous.startedAtMs, at), lastAtMs: Math.max(previous.lastAtMs, at) };
  if (event.type === BATCH_V1) {
    const index = (event.epoch - 1) * event.total_batches + event.batch;
    const last = timing.lastBatchIndex;
    const lastAt = timing.lastBatchAtMs;
    if (last === null || lastAt === null) {
      timing = { ...timing, lastBatchIndex: index, lastBatchAtMs: at, totalBatches: event.total_batches };
    } else if (index > last && at >= lastAt) {
      // A duplicate or an older event (re-delivered) moves nothing forward.
      const advanced = index - last;
      const sample = (at - lastAt) / 1000 / advanced;
      const weight = 1 - (1 - PACE_SMOOTHING) ** advanced;
      const pace = timing.secondsPerBatch === null ? sample : timing.secondsPerBatch + weight * (sample - timing.secondsPerBatch);
      timing = { ...timing, lastBatchIndex: index, lastBatchAtMs: at, secondsPerBatch: pace, totalBatches: event.total_batches };
    }
  }
  return timing;
}

/** Neighbours averaged in pairs; with an odd count the newest point stays as it is (the curve always ends at it). */
function halve(points: History["batchLoss"]): History["batchLoss"] {
  const out: { at: number; loss: number }[] = [];
  for (let i = 0; i + 1 < points.length; i += 2) {
    const a = points[i];
    const b = points[i + 1];
    if (a !== undefined && b !== undefined) out.push({ at: b.at, loss: (a.loss + b.loss) / 2 });
  }
  // Called at MAX_LOSS_POINTS + 1 points, an odd count, so there is always such a newest point.
  const newest = points.at(-1);
  if (points.length % 2 === 1 && newest !== undefined) out.push(newest);
  return out;
}

function nextHistory(previous: History | undefined, event: DigitsEventV1): History {
  const history: History = previous ?? { epochs: [], batchLoss: [] };
  if (event.type === BATCH_V1) {
    const at = event.epoch - 1 + event.batch / event.total_batches;
    if ((history.batchLoss.at(-1)?.at ?? Number.NEGATIVE_INFINITY) >= at) return history;
    const points = [...history.batchLoss, { at, loss: event.batch_loss }];
    return { ...history, batchLoss: points.length > MAX_LOSS_POINTS ? halve(points) : points };
  }
  if (event.type === EPOCH_V1) {
    const epochs = history.epochs.filter((line) => line.epoch !== event.epoch);
    epochs.push({ epoch: event.epoch, valAcc: event.val_acc, trainLoss: event.train_loss });
    epochs.sort((a, b) => a.epoch - b.epoch);
    return { ...history, epochs: epochs.slice(-MAX_EPOCH_LINES) };
  }
  return history;
}

/** Seconds from the first event to the newest one; null before any timed event. */
export function elapsedSeconds(state: JobState): number | null {
  const timing = state.timing;
  return timing === undefined ? null : (timing.lastAtMs - timing.startedAtMs) / 1000;
}

/** Seconds left at the measured pace, counted from the newest batch event; null when unknown. */
export function etaSeconds(state: JobState): number | null {
  const timing = state.timing;
  if (isTerminal(state.status) || timing === undefined || state.totalEpochs === null) return null;
  const { secondsPerBatch, lastBatchIndex, totalBatches } = timing;
  if (secondsPerBatch === null || lastBatchIndex === null || totalBatches === null) return null;
  return Math.max(state.totalEpochs * totalBatches - lastBatchIndex, 0) * secondsPerBatch;
}
