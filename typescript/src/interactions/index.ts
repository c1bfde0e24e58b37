// The interactions endpoint as the bot starts it: which handler answers what, and the names the
// rest of the bot uses (cancelButton for the live message, releaseActive when a job ends).

import { handleCancel } from "./cancel.ts";
import { handledOnce } from "./once.ts";
import { InteractionsServer, type Handler, type InteractionReplies } from "./server.ts";
import type { InteractionSettings } from "./settings.ts";
import { handleTrain, type TrainDeps } from "./train.ts";

export { cancelButton } from "./cancel.ts";
export { releaseActive } from "./active.ts";
export { INTERACTIONS_USAGE, loadInteractionSettings, type InteractionSettings } from "./settings.ts";
export type { InteractionReplies } from "./server.ts";

export function interactionHandler(deps: TrainDeps): Handler {
  return (interaction) => {
    if (interaction.kind === "button") return handleCancel(interaction, deps);
    if (interaction.name === "train") return handleTrain(interaction, deps);
    return Promise.resolve(`Unknown command /${interaction.name}.`);
  };
}

/** Starts the endpoint on settings.host:settings.port (0: a free port); stop() it at shutdown. */
export async function startInteractions(
  settings: InteractionSettings,
  deps: TrainDeps,
  replies: InteractionReplies,
): Promise<{ readonly server: InteractionsServer; readonly port: number }> {
  const handler = handledOnce(interactionHandler(deps), { redis: deps.redis, maxAgeS: settings.maxAgeS, log: deps.log });
  const server = new InteractionsServer(settings, handler, replies, deps.log, deps.now);
  const address = await server.start();
  deps.log.info(`interactions endpoint listening on http://${settings.host}:${address.port}/interactions`);
  return { server, port: address.port };
}
