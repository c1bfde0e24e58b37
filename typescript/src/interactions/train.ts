// /train: the options become a digits.train.v1 request checked by the generated zod schema (no
// bound is written here), the job counts against the limits, its live message appears at once
// ("Queued", with the Cancel button) and is stored as the message its events will edit, and
// the request goes to the requests stream for the intake. Every refusal is an ephemeral text
// that names what to change; nothing is queued then.

import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { stringify } from "lossless-json";
import type { DiscordPort, MessageRef } from "../discord_port.ts";
import { DeliveryError } from "../discord_port.ts";
import { messageNonce } from "../delivery.ts";
import { DigitsTrainV1 } from "../generated/contracts.ts";
import { REQUEST_V1 } from "../generated/names.ts";
import type { Logger } from "../log.ts";
import { releaseActive, reserveActive } from "./active.ts";
import { queuedMessage } from "./queued.ts";
import type { UserInteraction } from "./server.ts";
import { REQUEST_FIELD, REQUESTS_STREAM_MAXLEN, TRAIN_DEFAULTS, type InteractionSettings } from "./settings.ts";

export interface TrainDeps {
  readonly redis: Redis;
  readonly settings: InteractionSettings;
  readonly discord: DiscordPort;
  /** The channel a user's job messages go to: the notify channel, or the user's DM. */
  readonly channelFor: (userId: bigint) => Promise<string>;
  /** Where the bot keeps each job's message (message_store.ts), under messageKeyFor's key. */
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

async function showQueued(request: DigitsTrainV1, ahead: number, deps: TrainDeps): Promise<string | null> {
  try {
    const channelId = await deps.channelFor(request.user_id);
    const key = deps.messageKeyFor(request.user_id, request.request_id);
    // The job's first message: if the bot dies before storing its id, the run's first create gets it back.
    const created = await deps.discord.createMessage(channelId, { ...queuedMessage(request, ahead), nonce: messageNonce(key) });
    await deps.messages.set(key, { channelId, messageId: created.id });
    return null;
  } catch (error) {
    if (error instanceof DeliveryError && error.kind === "dms_closed") {
      return "Not queued: I cannot send you direct messages, where the job's progress would appear. Allow direct messages from this server's members and try again.";
    }
    // The job can still run: its first event creates the message instead.
    deps.log.warn(
      `interactions: the Queued message of ${request.request_id} could not be shown: ${error instanceof Error ? error.message : String(error)}`,
    );
    return null;
  }
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
    const refused = await showQueued(request, reservation.ahead, deps);
    if (refused !== null) {
      await releaseActive(deps.redis, request.user_id, requestId);
      return refused;
    }
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
    throw error;
  }
  const ahead = reservation.ahead === 0 ? "nothing ahead of it" : `${reservation.ahead} ahead of it`;
  return `Queued: request \`${requestId}\` (${ahead}). Its progress appears in the message I just sent you, with a Cancel button.`;
}
