// Turns a job's state into the Discord message that shows it (pure; no I/O).

import type { APIActionRowComponent, APIButtonComponent, APIEmbed, APIEmbedField } from "discord-api-types/v10";
import { DISCORD_LIMITS } from "../shared/limits.ts";
import { chartFor } from "./chart.ts";
import { clip, escapeText } from "./escape.ts";
import { cancelButton } from "./cancel_button.ts";
import { sparkline } from "./sparkline.ts";
import { bestEpoch, elapsedSeconds, etaSeconds, isTerminal, progressFraction, type JobState, type JobStatus } from "../jobs/state.ts";

export interface RenderedMessage {
  readonly embed: APIEmbed;
  /** A chart image; `key` changes only when the picture does (delivery uploads it then). */
  readonly chart?: { readonly key: string; readonly png: () => Uint8Array };
  /** The Cancel button while the job is queued or running; `[]` once it has ended (removes it). */
  readonly components?: readonly APIActionRowComponent<APIButtonComponent>[];
}

const STATUS_LOOK: Readonly<Record<JobStatus, { readonly title: string; readonly color: number }>> = {
  started: { title: "Training started", color: 0x5865f2 },
  training: { title: "Training", color: 0xfee75c },
  completed: { title: "Training completed", color: 0x57f287 },
  failed: { title: "Training failed", color: 0xed4245 },
};

/** A cancel from Discord is a failed event with this fixed text (why not a new type: docs/adr/0007-cancel-is-a-failed-event.md). */
const CANCELLED = /^cancelled by user ([0-9]{1,20})$/;
const CANCELLED_LOOK = { title: "Training cancelled", color: 0x99aab5 };

/** Who cancelled the job (a user id), when it ended by a Cancel. */
function cancelledBy(state: JobState): string | null {
  if (state.status !== "failed" || state.failure?.kind !== "user") return null;
  return CANCELLED.exec(state.failure.message)?.[1] ?? null;
}

const BAR_CELLS = 20;
/** Caps for event text, chosen so the whole embed stays far below Discord's 6000 total. */
const ID_CHARS = 200;
const PATH_CHARS = 400;
const ERROR_CHARS = 900;
const USER_ERROR_HINT = "Check the request (epochs, batch size, learning rate, model id) and send it again.";
const SYSTEM_ERROR_HINT = "Nothing to fix in the request; try again later.";

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(2)}%`;
}

function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} KiB`;
  return `${(count / (1024 * 1024)).toFixed(1)} MiB`;
}

function thousands(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** "42s", "3m 05s", "2h 07m": whole seconds, never negative. */
export function duration(seconds: number): string {
  const total = Math.max(Math.round(seconds), 0);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${s}s`;
}

/** "Elapsed 3m 05s · ETA 1m 10s" from event times; null before any timed event. */
export function timeLine(state: JobState): string | null {
  const elapsed = elapsedSeconds(state);
  if (elapsed === null) return null;
  const eta = etaSeconds(state);
  const tail = isTerminal(state.status) ? "" : ` · ETA ${eta === null ? "measuring…" : duration(eta)}`;
  return `${isTerminal(state.status) ? "Took" : "Elapsed"} ${duration(elapsed)}${tail}`;
}

/** Sparklines of val_acc per epoch and of the batch loss, for clients that hide the chart. */
export function trendValue(state: JobState): string | null {
  const history = state.history;
  if (history === undefined) return null;
  const lines: string[] = [];
  const lastEpoch = history.epochs.at(-1);
  if (lastEpoch !== undefined) lines.push(`val_acc ${sparkline(history.epochs, (e) => e.valAcc)} ${percent(lastEpoch.valAcc)}`);
  const lastPoint = history.batchLoss.at(-1);
  if (lastPoint !== undefined) lines.push(`batch loss ${sparkline(history.batchLoss, (p) => p.loss)} ${lastPoint.loss.toFixed(4)}`);
  return lines.length === 0 ? null : lines.join("\n");
}

export function progressBar(fraction: number): string {
  const filled = Math.round(fraction * BAR_CELLS);
  return `\`[${"█".repeat(filled)}${"░".repeat(BAR_CELLS - filled)}]\` ${Math.floor(fraction * 100)}%`;
}

/** What the message shows beyond the state itself. */
export interface RenderView {
  /** Set when a running job has been silent past the threshold: when its last event arrived (ms). */
  readonly silentSinceMs?: number;
}

function description(state: JobState, view: RenderView): string {
  const lines = [progressBar(progressFraction(state))];
  const batch = state.lastBatch;
  const total = state.totalEpochs === null ? "?" : String(state.totalEpochs);
  if (batch !== null && !(state.status === "completed" || state.status === "failed")) {
    lines.push(`Epoch ${batch.epoch}/${total} · batch ${batch.batch}/${batch.totalBatches}`);
    lines.push(
      `Batch loss ${batch.batchLoss.toFixed(4)} · accuracy ${percent(batch.batchAcc)} · ${thousands(batch.samplesPerSec)} samples/s`,
    );
  } else {
    // Only what is known: no "Epoch 0/N" for a job that never finished an epoch.
    const lastEpoch = state.epochs.at(-1);
    if (lastEpoch !== undefined) lines.push(`Epoch ${lastEpoch.epoch}/${total}`);
    else if (state.totalEpochs !== null && !isTerminal(state.status))
      lines.push(`${total} epoch${state.totalEpochs === 1 ? "" : "s"} to train`);
  }
  const time = timeLine(state);
  if (time !== null) lines.push(time);
  if (view.silentSinceMs !== undefined && !isTerminal(state.status)) {
    // Discord shows <t:…:R> as "5 minutes ago" and keeps it current without edits.
    lines.push(`⚠ No news from the worker since <t:${Math.floor(view.silentSinceMs / 1000)}:R>; it may be busy or lost.`);
  }
  lines.push(`Request ${escapeText(state.requestId, ID_CHARS)}`);
  return lines.join("\n");
}

function epochLine(line: JobState["epochs"][number], best: number | null): string {
  const acc = line.valAcc === null ? "val_acc n/a" : `val_acc ${percent(line.valAcc)}`;
  const time = line.timeS === null ? "" : ` · ${line.timeS.toFixed(1)} s`;
  const mark = line.epoch === best ? " ★ best" : "";
  return `Epoch ${line.epoch}: ${acc}${time}${mark}`;
}

/** Newest epoch lines that fit `max` characters; older ones are summarised first. */
export function epochsValue(state: JobState, max: number): string | null {
  if (state.epochs.length === 0) return null;
  const best = bestEpoch(state);
  const lines = state.epochs.map((line) => epochLine(line, best));
  for (let skipped = 0; skipped < lines.length; skipped += 1) {
    const shown = lines.slice(skipped);
    const text = (skipped > 0 ? [`… ${skipped} earlier epoch${skipped === 1 ? "" : "s"}`, ...shown] : shown).join("\n");
    if (text.length <= max) return text;
  }
  return clip(`… ${lines.length} epochs`, max);
}

function notesValue(state: JobState): string | null {
  const notes: string[] = [];
  if (state.artifactPath !== null) notes.push(`Saved to ${escapeText(state.artifactPath, PATH_CHARS)}/ in the artifacts root`);
  if (state.upload !== null) {
    const { status, modelBytes, manifestBytes } = state.upload;
    const outcome = status === 0 ? "no response" : `HTTP ${status}${status >= 200 && status < 300 ? " (ok)" : ""}`;
    notes.push(`Upload: ${outcome} · model ${bytes(modelBytes)} · manifest ${bytes(manifestBytes)}`);
  }
  if (state.prunedCount !== null) {
    notes.push(`Pruned ${state.prunedCount} old snapshot file${state.prunedCount === 1 ? "" : "s"}`);
  }
  return notes.length === 0 ? null : notes.join("\n");
}

function outcomeField(state: JobState): APIEmbedField | null {
  if (state.status === "completed") {
    const acc = state.finalValAcc === null ? "n/a" : percent(state.finalValAcc);
    const run = state.runId === null ? "" : `\nRun ${escapeText(state.runId, ID_CHARS)}`;
    return { name: "Result", value: `val_acc ${acc}${run}` };
  }
  const by = cancelledBy(state);
  if (by !== null) return { name: "Cancelled", value: `Cancelled by <@${by}>; nothing more will run.` };
  if (state.status === "failed" && state.failure !== null) {
    const { kind, message } = state.failure;
    const hint = kind === "user" ? USER_ERROR_HINT : SYSTEM_ERROR_HINT;
    return { name: kind === "user" ? "Error in the request" : "System error", value: `${escapeText(message, ERROR_CHARS)}\n${hint}` };
  }
  return null;
}

function embedLength(embed: APIEmbed): number {
  const fields = embed.fields ?? [];
  return (
    (embed.title?.length ?? 0) +
    (embed.description?.length ?? 0) +
    (embed.footer?.text.length ?? 0) +
    fields.reduce((sum, field) => sum + field.name.length + field.value.length, 0)
  );
}

function build(state: JobState, view: RenderView, epochBudget: number): APIEmbed {
  const look = cancelledBy(state) === null ? STATUS_LOOK[state.status] : CANCELLED_LOOK;
  const fields: APIEmbedField[] = [];
  const outcome = outcomeField(state);
  if (outcome !== null) fields.push(outcome);
  const trend = trendValue(state);
  if (trend !== null) fields.push({ name: "Trend", value: trend });
  const epochs = epochsValue(state, epochBudget);
  if (epochs !== null) fields.push({ name: "Epochs", value: epochs });
  const notes = notesValue(state);
  if (notes !== null) fields.push({ name: "Notes", value: notes });
  return {
    title: clip(`${look.title} · ${escapeText(state.modelId, ID_CHARS)}`, DISCORD_LIMITS.title),
    color: look.color,
    description: clip(description(state, view), DISCORD_LIMITS.description),
    fields: fields.slice(0, DISCORD_LIMITS.fields).map((field) => ({
      name: clip(field.name, DISCORD_LIMITS.fieldName),
      value: clip(field.value, DISCORD_LIMITS.fieldValue),
    })),
  };
}

/**
 * Renders the job's message within Discord's embed limits, shortening epoch lines first.
 * `embedTotal` is Discord's total; the caps above keep a message far below it, so only a test
 * passes a smaller one to check the shortening that guards any future field growth.
 */
export function renderJob(state: JobState, view: RenderView = {}, embedTotal: number = DISCORD_LIMITS.embedTotal): RenderedMessage {
  let budget: number = DISCORD_LIMITS.fieldValue;
  let embed = build(state, view, budget);
  while (embedLength(embed) > embedTotal && budget > 0) {
    budget = Math.floor(budget / 2);
    embed = build(state, view, budget);
  }
  const chart = chartFor(state);
  const button = isTerminal(state.status) ? null : cancelButton(state.userId, state.requestId);
  const components = button === null ? [] : [button];
  return chart === undefined ? { embed, components } : { embed, chart, components };
}

export { embedLength };

/** Plain-text view of a rendered message, for --dry-run and logs. */
export function renderText(message: RenderedMessage): string {
  const { embed } = message;
  const parts = [`## ${embed.title ?? ""}`, embed.description ?? ""];
  for (const field of embed.fields ?? []) parts.push(`**${field.name}**\n${field.value}`);
  return parts.join("\n");
}
