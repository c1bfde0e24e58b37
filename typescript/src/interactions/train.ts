// /train: the options become a digits.train.v1 request checked by the generated zod schema (no
// bound is written here), the job counts against the limits, the request goes to the requests
// stream for the intake, and then its live message appears ("Queued", with the Cancel button) and
// is stored as the message its events will edit. Every refusal is an ephemeral text that names
// what to change; nothing is queued then.
//
// The order holds whatever step the bot dies at (SIGKILL included): no Queued message with a
// Cancel button exists before its request is on the stream, so none can stand for a request that
// never was. A bot that dies after the append loses nothing either: delivery creates the job's
// message from its events with the same nonce (messageNonce) as the Queued message, so whichever
// create comes second gets the first's message back from Discord, and there is one message. A
// stream that refuses the request leaves nothing to take back. Only a user whose DMs are closed,
// with no notify channel, is found out after the append: that request is cancelled in the user's
// name (the intake queues nothing, or removes it), and the user is told why.

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
import { requestCancel } from "./cancel.ts";
import { queuedMessage } from "./queued.ts";
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Shows the Queued message: null when shown, or when it could not be (the job still goes), or the refusal. */
async function showQueued(request: DigitsTrainV1, ahead: number, deps: TrainDeps): Promise<string | null> {
  try {
    let channelId = await deps.channelFor(request.user_id);
    const key = deps.messageKeyFor(request.user_id, request.request_id);
    // The job's first message: whichever of this create and delivery's first create comes second
    // (a bot that died before storing the id, or events that came first) gets the other's back.
    const message = { ...queuedMessage(request, ahead), nonce: messageNonce(key) };
    let created: CreatedMessage;
    try {
      created = await deps.discord.createMessage(channelId, message);
    } catch (error) {
      // DMs closed: the notify channel, mentioning the user, as delivery does (typescript/README.md, *Delivery*).
      const notify = deps.notifyChannelId ?? null;
      if (!(error instanceof DeliveryError && error.kind === "dms_closed" && notify !== null)) throw error;
      channelId = notify;
      created = await deps.discord.createMessage(notify, {
        ...message,
        content: closedDmsMention(request.user_id),
        mentionUserId: request.user_id,
      });
    }
    await deps.messages.set(key, { channelId, messageId: created.id });
    return null;
  } catch (error) {
    if (error instanceof DeliveryError && error.kind === "dms_closed") {
      return "Not queued: I cannot send you direct messages, where the job's progress would appear. Allow direct messages from this server's members and try again.";
    }
    // The job can still run: its first event creates the message instead.
    deps.log.warn(`interactions: the Queued message of ${request.request_id} could not be shown: ${describe(error)}`);
    return null;
  }
}

/**
 * The user's DMs are closed and there is nowhere else to show the job: the request, already on the
 * stream, is cancelled in the user's name (the intake then queues nothing, or removes or stops
 * it) and stops counting. The answer is the refusal, or says that the job may run unseen.
 */
async function withdraw(request: DigitsTrainV1, refusal: string, deps: TrainDeps): Promise<string> {
  try {
    await requestCancel(deps.redis, deps.settings, request.user_id, request.request_id, request.user_id);
  } catch (error) {
    deps.log.warn(`interactions: the request ${request.request_id} could not be withdrawn: ${describe(error)}`);
    return `${refusal} (Request \`${request.request_id}\` could not be withdrawn: it may run, with no message to show it.)`;
  }
  await releaseActive(deps.redis, request.user_id, request.request_id).catch(() => undefined);
  return refusal;
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
  try {
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
    // Nothing was shown yet and nothing will run: the error is the answer ("nothing was changed").
    await releaseActive(deps.redis, request.user_id, requestId).catch(() => undefined);
    throw error;
  }
  const refusal = await showQueued(request, reservation.ahead, deps);
  if (refusal !== null) return await withdraw(request, refusal, deps);
  const ahead = reservation.ahead === 0 ? "nothing ahead of it" : `${reservation.ahead} ahead of it`;
  return `Queued: request \`${requestId}\` (${ahead}). Its progress appears in the message I just sent you, with a Cancel button.`;
}
