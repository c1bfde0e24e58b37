// /train: the options become a digits.train.v1 request checked by the generated zod schema (no
// bound is written here), the job counts against the limits, its live message appears at once
// ("Queued", with the Cancel button) and is stored as the message its events will edit, and
// the request goes to the requests stream for the intake. Every refusal is an ephemeral text
// that names what to change; nothing is queued then. A request the stream refuses leaves no
// "Queued" message with a Cancel button behind: the message is edited to "Not queued" first.

import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { stringify } from "lossless-json";
import type { CreatedMessage, DiscordPort, MessageRef } from "../discord/discord_port.ts";
import { DeliveryError } from "../discord/discord_port.ts";
import { closedDmsMention, messageNonce } from "../discord/job_message.ts";
import { DigitsTrainV1 } from "../generated/contracts.ts";
import { REQUEST_V1 } from "../generated/names.ts";
import type { Logger } from "../shared/log.ts";
import { releaseActive, reserveActive } from "./active.ts";
import { notQueuedMessage, queuedMessage } from "./queued.ts";
import type { UserInteraction } from "./server.ts";
import { REQUEST_FIELD, REQUESTS_STREAM_MAXLEN, TRAIN_DEFAULTS, type InteractionSettings } from "./settings.ts";

export interface TrainDeps {
  readonly redis: Redis;
  readonly settings: InteractionSettings;
  readonly discord: DiscordPort;
  /** The channel a user's job messages go to first: the user's DM. */
  readonly channelFor: (userId: bigint) => Promise<string>;
  /** Where the Queued message goes when the user's DMs are closed (DIGITS_NOTIFY_CHANNEL_ID); null: /train is refused. */
  readonly notifyChannelId?: string | null;
  /** Where the bot keeps each job's message (discord/message_store.ts), under messageKeyFor's key. */
  readonly messages: { set(key: string, ref: MessageRef): Promise<void> };
  readonly messageKeyFor: (userId: bigint, requestId: string) => string;
  readonly log: Logger;
  readonly now: () => number;
  readonly newRequestId?: () => string;
  /** See CancelDeps.isOpen. */
  readonly isOpen: (userId: bigint, requestId: string) => Promise<boolean>;
}

type Command = Extract<UserInteraction, { kind: "command" }>;

/** The request the options ask for, validated, or the refusal naming each bad field and its rule. */
export function requestFromOptions(options: Command["options"], userId: bigint, requestId: string): DigitsTrainV1 | string {
  const parsed = DigitsTrainV1.safeParse({
    type: REQUEST_V1,
    request_id: requestId,
    user_id: userId,
    ...TRAIN_DEFAULTS,
    notes: null,
    ...Object.fromEntries(options),
  });
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "options"}: ${issue.message}`);
  return `Not queued: ${problems.join("; ")}. Change ${problems.length > 1 ? "those options" : "that option"} and try again.`;
}

function allowed(interaction: Command, settings: InteractionSettings): boolean {
  const { allowedGuildIds: guilds, allowedChannelIds: channels } = settings;
  if (guilds.size > 0 && (interaction.guildId === null || !guilds.has(interaction.guildId))) return false;
  return channels.size === 0 || (interaction.channelId !== null && channels.has(interaction.channelId));
}

/** Tries to withdraw the Queued message (before Discord's 3 s are up), waiting this long between tries. */
const WITHDRAW_WAITS_MS = [0, 250, 500];

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Shows the Queued message: its ref, null when it could not be shown (the job still goes), or the refusal. */
async function showQueued(request: DigitsTrainV1, ahead: number, deps: TrainDeps): Promise<MessageRef | null | string> {
  let ref: MessageRef | null = null;
  try {
    let channelId = await deps.channelFor(request.user_id);
    const key = deps.messageKeyFor(request.user_id, request.request_id);
    // The job's first message: if the bot dies before storing its id, the run's first create gets it back.
    const message = { ...queuedMessage(request, ahead), nonce: messageNonce(key) };
    let created: CreatedMessage;
    try {
      created = await deps.discord.createMessage(channelId, message);
    } catch (error) {
      // DMs closed: the notify channel, mentioning the user, as delivery does (README, Delivery).
      const notify = deps.notifyChannelId ?? null;
      if (!(error instanceof DeliveryError && error.kind === "dms_closed" && notify !== null)) throw error;
      channelId = notify;
      created = await deps.discord.createMessage(notify, {
        ...message,
        content: closedDmsMention(request.user_id),
        mentionUserId: request.user_id,
      });
    }
    ref = { channelId, messageId: created.id };
    await deps.messages.set(key, ref);
    return ref;
  } catch (error) {
    if (error instanceof DeliveryError && error.kind === "dms_closed") {
      return "Not queued: I cannot send you direct messages, where the job's progress would appear. Allow direct messages from this server's members and try again.";
    }
    // The job can still run: its first event creates the message instead.
    deps.log.warn(`interactions: the Queued message of ${request.request_id} could not be shown: ${describe(error)}`);
    return ref;
  }
}

/** Edits the Queued message to "Not queued" (no Cancel button); false when Discord never took the edit. */
async function withdrawQueued(ref: MessageRef, request: DigitsTrainV1, deps: TrainDeps): Promise<boolean> {
  let last: unknown = null;
  for (const wait of WITHDRAW_WAITS_MS) {
    await new Promise((resolve) => setTimeout(resolve, wait));
    try {
      await deps.discord.editMessage(ref, notQueuedMessage(request));
      return true;
    } catch (error) {
      last = error;
    }
  }
  deps.log.warn(`interactions: the Queued message of ${request.request_id} could not be withdrawn: ${describe(last)}`);
  return false;
}

export async function handleTrain(interaction: Command, deps: TrainDeps): Promise<string> {
  if (!allowed(interaction, deps.settings)) return "Training cannot be started from here. Ask an admin where /train is allowed.";
  const requestId = deps.newRequestId?.() ?? randomUUID().replaceAll("-", "");
  const request = requestFromOptions(interaction.options, interaction.userId, requestId);
  if (typeof request === "string") return request;
  const reservation = await reserveActive(deps.redis, deps.settings, request.user_id, requestId, deps.now());
  if (reservation.kind === "user_limit") {
    return `Not queued: you already have ${reservation.active} jobs queued or running (at most ${deps.settings.maxJobsPerUser}). Wait for one to end, or cancel one.`;
  }
  if (reservation.kind === "total_limit") {
    return `Not queued: the queue is full (${reservation.active} jobs queued or running, at most ${deps.settings.maxJobsTotal}). Try again later.`;
  }
  let shown: MessageRef | null = null;
  try {
    const queued = await showQueued(request, reservation.ahead, deps);
    if (typeof queued === "string") {
      await releaseActive(deps.redis, request.user_id, requestId);
      return queued;
    }
    shown = queued;
    await deps.redis.xadd(
      deps.settings.requestsStream,
      "MAXLEN",
      "~",
      REQUESTS_STREAM_MAXLEN,
      "*",
      REQUEST_FIELD,
      String(stringify(request)), // undefined only for undefined or a function
    );
  } catch (error) {
    await releaseActive(deps.redis, request.user_id, requestId).catch(() => undefined);
    // Nothing was changed once the message is withdrawn: the error is the answer ("try again").
    if (shown === null || (await withdrawQueued(shown, request, deps))) throw error;
    deps.log.warn(`interactions: the request ${requestId} could not be queued: ${describe(error)}`);
    return "Not queued: the queue could not take the request. Nothing will run, whatever the message I sent you says (it could not be updated). Try again in a minute.";
  }
  const ahead = reservation.ahead === 0 ? "nothing ahead of it" : `${reservation.ahead} ahead of it`;
  return `Queued: request \`${requestId}\` (${ahead}). Its progress appears in the message I just sent you, with a Cancel button.`;
}
