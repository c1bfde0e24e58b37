// The interactions endpoint as the bot starts it: which handler answers what, and the names the
// rest of the bot uses (releaseActive when a job ends; the Cancel button is view/cancel_button.ts).

import { handleCancel } from "./cancel.ts";
import { handleJobs, JOBS_COMMAND, type JobsDeps } from "./jobs.ts";
import { handledOnce } from "./once.ts";
import { handlePredict, PREDICT_COMMAND } from "./predict.ts";
import { loadPredictSettings, type PredictSettings } from "./predict_settings.ts";
import { InteractionsServer, type Handler, type InteractionReplies } from "./server.ts";
import type { InteractionSettings } from "./settings.ts";
import type { Redis } from "ioredis";
import { BOT_KEY_PREFIX } from "../generated/names.ts";
import { RedisJobStore } from "../jobs/job_store.ts";
import { RedisMessageStore } from "../discord/message_store.ts";
import { DEFAULT_BOT_GROUP } from "../shared/settings_schema.ts";
import { handleTrain, type TrainDeps } from "./train.ts";

export { releaseActive } from "./active.ts";
export { loadInteractionSettings, type InteractionSettings } from "./settings.ts";
export type { InteractionReplies } from "./server.ts";

/** What /jobs reads besides TrainDeps: the bot's job and message stores and their key prefix. */
export type JobsStores = Pick<JobsDeps, "store" | "messages" | "prefix">;

/** The stores of the default consumer group, for callers that start the endpoint alone. */
function defaultStores(redis: Redis): JobsStores {
  const prefix = `${BOT_KEY_PREFIX}${DEFAULT_BOT_GROUP}:`;
  return { store: new RedisJobStore(redis, prefix), messages: new RedisMessageStore(redis, prefix), prefix };
}

export function interactionHandler(
  deps: TrainDeps,
  predict: PredictSettings = loadPredictSettings({}),
  stores: JobsStores = defaultStores(deps.redis),
): Handler {
  return (interaction) => {
    if (interaction.kind === "button") return handleCancel(interaction, deps);
    if (interaction.name === "train") return handleTrain(interaction, deps);
    if (interaction.name === PREDICT_COMMAND) return handlePredict(interaction, { ...deps, predict });
    if (interaction.name === JOBS_COMMAND) return handleJobs(interaction, { ...deps, ...stores });
    return Promise.resolve(`Unknown command /${interaction.name}.`);
  };
}

/**
 * Starts the endpoint on settings.host:settings.port (0: a free port); stop() it at shutdown.
 * /predict's settings come from `env` (predict_settings.ts); a bad one throws, naming it.
 */
export async function startInteractions(
  settings: InteractionSettings,
  deps: TrainDeps,
  replies: InteractionReplies,
  env: Readonly<Record<string, string | undefined>> = process.env,
  stores: JobsStores = defaultStores(deps.redis),
): Promise<{ readonly server: InteractionsServer; readonly port: number }> {
  const handler = handledOnce(interactionHandler(deps, loadPredictSettings(env), stores), {
    redis: deps.redis,
    maxAgeS: settings.maxAgeS,
    log: deps.log,
  });
  // /predict always answers by an edit: "thinking…" goes out at once.
  const options = { ...settings, deferAtOnce: new Set([PREDICT_COMMAND]) };
  const server = new InteractionsServer(options, handler, replies, deps.log, deps.now);
  const address = await server.start();
  deps.log.info(`interactions endpoint listening on http://${settings.host}:${address.port}/interactions`);
  return { server, port: address.port };
}
