// /predict image:<attachment> [model_id]: the picture Discord resolved in the signed interaction
// is fetched (attachment.ts: origin, size, time and header checked), sent to the prediction
// workers as a digits.predict.v1 on their own queue (PREDICT_QUEUE, never behind training), and
// the result they push under PREDICT_RESULT_KEY becomes the answer (predict_render.ts). The
// endpoint answers "thinking…" at once; this answer replaces it. Every refusal is one line
// saying what to change; a user may ask DIGITS_PREDICTS_PER_MINUTE times a minute.

import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { stringify } from "lossless-json";
import { DigitsPredictV1 } from "../generated/contracts.ts";
import { PREDICT_V1, PREDICT_V1_DEFAULT_MODEL_ID } from "../generated/names.ts";
import type { Logger } from "../shared/log.ts";
import { scripted } from "../shared/redis_scripts.ts";
import { decodePredictResult } from "./predict_decode.ts";
import { fetchAttachment } from "./attachment.ts";
import { predictAnswer } from "./predict_render.ts";
import { predictRateKey, predictResultKey, type PredictSettings } from "./predict_settings.ts";
import type { UserInteraction } from "./server.ts";
import type { RichReply } from "../discord/discord_port.ts";
import type { InteractionSettings } from "./settings.ts";

export const PREDICT_COMMAND = "predict";
export const IMAGE_OPTION = "image";
const RATE_WINDOW_S = 60;

export interface PredictDeps {
  readonly redis: Redis;
  readonly settings: InteractionSettings;
  readonly predict: PredictSettings;
  readonly log: Logger;
}

type Command = Extract<UserInteraction, { kind: "command" }>;

function allowed(interaction: Command, settings: InteractionSettings): boolean {
  const { allowedGuildIds: guilds, allowedChannelIds: channels } = settings;
  if (guilds.size > 0 && (interaction.guildId === null || !guilds.has(interaction.guildId))) return false;
  return channels.size === 0 || (interaction.channelId !== null && channels.has(interaction.channelId));
}

/** How many predictions `userId` asked for in this minute, this one included. */
async function countRequest(redis: Redis, userId: bigint): Promise<number> {
  return scripted(redis).digitsCountInWindow(predictRateKey(userId), RATE_WINDOW_S);
}

/** Waits for the worker's answer on a connection of its own (BLPOP blocks it); null after the timeout. */
async function awaitResult(redis: Redis, key: string, timeoutS: number): Promise<string | null> {
  const blocking = redis.duplicate();
  try {
    const popped = await blocking.blpop(key, timeoutS);
    return popped === null ? null : popped[1];
  } finally {
    blocking.disconnect();
  }
}

export async function handlePredict(interaction: Command, deps: PredictDeps): Promise<string | RichReply> {
  if (!allowed(interaction, deps.settings))
    return "Predictions cannot be made from here. Ask an admin where the bot's commands are allowed.";
  const attachmentId = interaction.options.get(IMAGE_OPTION);
  const attachment = typeof attachmentId === "string" ? interaction.attachments?.get(attachmentId) : undefined;
  if (attachment === undefined) return "Attach a picture of one digit to /predict (its image option).";
  const modelId = interaction.options.get("model_id") ?? PREDICT_V1_DEFAULT_MODEL_ID;
  const modelCheck = DigitsPredictV1.shape.model_id.safeParse(modelId);
  if (!modelCheck.success) {
    return "Not asked: model_id must be 1 to 64 letters, digits, dots, underscores or hyphens, starting with a letter or digit.";
  }
  const count = await countRequest(deps.redis, interaction.userId);
  if (count > deps.predict.perMinute) {
    return `Not now: you asked for ${deps.predict.perMinute} predictions in the last minute, the most allowed. Try again in a minute.`;
  }
  const fetched = await fetchAttachment(attachment, deps.predict.attachmentOrigin);
  if (fetched.kind === "refused") return `Could not read the picture: ${fetched.reason}.`;
  const request: DigitsPredictV1 = {
    type: PREDICT_V1,
    request_id: randomUUID().replaceAll("-", ""),
    user_id: interaction.userId,
    model_id: modelCheck.data,
    image_base64: Buffer.from(fetched.bytes).toString("base64"),
  };
  const text = String(stringify(request)); // undefined only for undefined or a function
  await deps.redis.lpush(deps.predict.queue, text);
  const answer = await awaitResult(deps.redis, predictResultKey(request.user_id, request.request_id), deps.predict.timeoutS);
  if (answer === null) {
    await deps.redis.lrem(deps.predict.queue, 1, text); // still waiting: nobody needs it any more
    return `No prediction worker answered within ${deps.predict.timeoutS} s; nothing was kept. Try again later.`;
  }
  const result = decodePredictResult(answer);
  if (result.kind === "invalid") {
    deps.log.warn(`predict: a worker answered ${request.request_id} with an invalid result: ${result.reason}`);
    return "Something went wrong on our side; nothing was kept. Try again in a minute.";
  }
  return predictAnswer(result.message);
}
