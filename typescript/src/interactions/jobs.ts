// /jobs [all]: the asking user's queued, running and recent training jobs, privately, from what
// the bots already keep in Redis (read only): /train's active sets (active.ts: queued or running,
// in the order they were asked for) and the job store's events (job_store.ts), folded as the live
// message folds them. Each line: state, progress or result, jobs ahead while queued, and a link to
// the job's message. Admins (DIGITS_ADMIN_USER_IDS) may add all:true for everyone's jobs.

import type { Redis } from "ioredis";
import { decodeEvent } from "../events/decode.ts";
import { ACTIVE_ALL_KEY } from "../generated/names.ts";
import type { JobStore } from "../jobs/job_store.ts";
import { textOf } from "../jobs/job_store.ts";
import { foldRuns, messageKeyFor, type JobId } from "../jobs/job.ts";
import type { MessageRef } from "../discord/discord_port.ts";
import type { MessageStore } from "../discord/message_store.ts";
import { progressFraction, type JobState } from "../jobs/state.ts";
import { escapeText } from "../view/escape.ts";
import type { UserInteraction } from "./server.ts";
import type { InteractionSettings } from "./settings.ts";

export const JOBS_COMMAND = "jobs";
export const ALL_OPTION = "all";
/** Jobs listed at most (newest first after the active ones); an answer holds 2000 characters. */
export const MAX_LISTED = 15;
/** SCAN rounds at most when looking for a user's stored jobs (COUNT 500 each). */
const MAX_SCAN_ROUNDS = 200;

export interface JobsDeps {
  readonly redis: Redis;
  readonly settings: InteractionSettings;
  readonly store: JobStore;
  readonly messages: MessageStore;
  /** The bot's key prefix, `digits:bot:<group>:` (the job store's keys). */
  readonly prefix: string;
  readonly now: () => number;
  /** DIGITS_NOTIFY_CHANNEL_ID: a message there is in a guild, so its link names the guild. */
  readonly notifyChannelId?: string | null;
}

type Command = Extract<UserInteraction, { kind: "command" }>;

export interface Listed {
  readonly job: JobId;
  /** Jobs asked for before it that still count (null: not queued or running as /train knows). */
  readonly ahead: number | null;
  readonly state: JobState | null;
  readonly run: number;
  /** Sorts by the job's newest stored event (padded log id). */
  readonly latest: string;
}

function jobFromMember(member: string): JobId | null {
  const match = /^([0-9]{1,20}):(.+)$/.exec(member);
  return match?.[1] === undefined || match[2] === undefined ? null : { userId: BigInt(match[1]), requestId: match[2] };
}

/** /train's jobs still counting (queued or running), each with how many were asked for before it. */
async function activeJobs(deps: JobsDeps, userId: bigint | null): Promise<Map<string, number>> {
  const all = await deps.redis.zrangebyscore(ACTIVE_ALL_KEY, `(${deps.now()}`, "+inf");
  const prefix = userId === null ? "" : `${userId.toString()}:`;
  const ahead = new Map<string, number>();
  all.forEach((member, index) => {
    if (member.startsWith(prefix)) ahead.set(member, index);
  });
  return ahead;
}

/** Jobs with stored events: SCAN for the job store's event keys (bounded). */
async function storedJobs(deps: JobsDeps, userId: bigint | null): Promise<string[]> {
  const base = `${deps.prefix}events:`;
  const match = `${base}${userId === null ? "" : `${userId.toString()}:`}*`;
  const found: string[] = [];
  let cursor = "0";
  for (let round = 0; round < MAX_SCAN_ROUNDS; round += 1) {
    const [next, keys] = await deps.redis.scan(cursor, "MATCH", match, "COUNT", 500);
    found.push(...keys.map((key) => key.slice(base.length)));
    cursor = next;
    if (cursor === "0") break;
  }
  return found;
}

async function describeJob(deps: JobsDeps, member: string, ahead: number | null): Promise<Listed | null> {
  const job = jobFromMember(member);
  if (job === null) return null;
  const { members } = await deps.store.read(job, null);
  const runs: JobState[] = [];
  for (const stored of members) {
    const decoded = decodeEvent(textOf(stored));
    if (decoded.kind !== "invalid") foldRuns(runs, decoded);
  }
  const run = Math.max(runs.length - 1, 0);
  return { job, ahead, state: runs[run] ?? null, run, latest: members.at(-1) ?? "" };
}

function percent(value: number): string {
  return `${(value * 100).toFixed(1)}%`;
}

/** The job's state in a few words: queued (with those ahead), running with progress, or its end. */
export function stateText(entry: Listed): string {
  const state = entry.state;
  if (state === null) return entry.ahead === null ? "Waiting" : `Queued · ${entry.ahead} ahead`;
  if (state.status === "started") return "Starting";
  if (state.status === "training") return `Training ${percent(progressFraction(state))}`;
  if (state.status === "completed") return state.finalValAcc === null ? "Completed" : `Completed · val_acc ${percent(state.finalValAcc)}`;
  const message = state.failure?.message ?? "";
  return message.startsWith("cancelled by user") ? "Cancelled" : `Failed: ${escapeText(message, 80)}`;
}

/**
 * A link to the job's message. DMs are under @me; a message in the notify channel (the user's DMs
 * were closed) is in a guild, which only the interaction tells: asked from a DM, the channel is
 * named (Discord shows a mention of it to whoever may read it).
 */
function linkTo(ref: MessageRef | null, deps: JobsDeps, guildId: string | null): string {
  if (ref === null) return "";
  let place = "@me";
  if (ref.channelId === (deps.notifyChannelId ?? null)) {
    if (guildId === null) return ` · message in <#${ref.channelId}>`;
    place = guildId;
  }
  return ` · [message](https://discord.com/channels/${place}/${ref.channelId}/${ref.messageId})`;
}

async function line(deps: JobsDeps, entry: Listed, showUser: boolean, guildId: string | null): Promise<string> {
  const ref = await deps.messages.get(messageKeyFor(entry.job.userId, entry.job.requestId, entry.run));
  const link = linkTo(ref, deps, guildId);
  const who = showUser ? `<@${entry.job.userId.toString()}> ` : "";
  const model = entry.state === null ? "" : ` ${escapeText(entry.state.modelId, 64)}`;
  return `- ${who}${escapeText(entry.job.requestId, 40)}${model} · ${stateText(entry)}${link}`;
}

export async function handleJobs(interaction: Command, deps: JobsDeps): Promise<string> {
  const everyone = interaction.options.get(ALL_OPTION) === true;
  if (everyone && !deps.settings.adminUserIds.has(interaction.userId.toString())) {
    return "Only admins may list everyone's jobs (all:true). Leave it out to see yours.";
  }
  const userId = everyone ? null : interaction.userId;
  const active = await activeJobs(deps, userId);
  const members = new Set([...active.keys(), ...(await storedJobs(deps, userId))]);
  const listed = (await Promise.all([...members].map((member) => describeJob(deps, member, active.get(member) ?? null)))).flatMap(
    (entry) => entry ?? [],
  );
  if (listed.length === 0)
    return everyone ? "No jobs are queued, running or recent." : "You have no queued, running or recent jobs. Start one with /train.";
  // Queued and running first (in the order asked for), then the rest, newest first.
  listed.sort((a, b) => (a.ahead ?? Infinity) - (b.ahead ?? Infinity) || b.latest.localeCompare(a.latest));
  const shown = listed.slice(0, MAX_LISTED);
  const lines = await Promise.all(shown.map((entry) => line(deps, entry, everyone, interaction.guildId)));
  const more = listed.length > shown.length ? `\n…and ${listed.length - shown.length} older` : "";
  return `**${everyone ? "All jobs" : "Your jobs"}** (${listed.length})\n${lines.join("\n")}${more}`;
}
