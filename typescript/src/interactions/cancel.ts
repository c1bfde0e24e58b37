// The Cancel button on a job's live message, and what pressing it does. Only the requester or an
// admin (DIGITS_ADMIN_USER_IDS) may cancel; the first press asks the intake to act through the
// requests stream and records who on the cancel key (which the worker side reads), both in one
// script: a failure can never leave the press recorded with no request sent (the button blocked).
// A second press, or one after the job ended, changes nothing and says so.

import type { Redis } from "ioredis";
import { stringify } from "lossless-json";
import { scripted } from "../shared/redis_scripts.ts";
import { isActive } from "./active.ts";
import type { UserInteraction } from "./server.ts";
import { parseCancelId } from "../view/cancel_button.ts";
import { CANCEL_FIELD, cancelKey, REQUESTS_STREAM_MAXLEN, type InteractionSettings } from "./settings.ts";

export interface CancelDeps {
  readonly redis: Redis;
  readonly settings: InteractionSettings;
  readonly now: () => number;
  /**
   * Whether the bot still shows the job as not ended (its events are stored, its final state not
   * yet shown): how a job queued with the CLI, which /train's limits never counted, is known.
   */
  readonly isOpen: (userId: bigint, requestId: string) => Promise<boolean>;
}

/**
 * Records `by` as who cancels the job and asks the intake to act, in one script (a failed append
 * records nothing); null, or who recorded a cancel first (then nothing is appended).
 */
export async function requestCancel(
  redis: Redis,
  settings: Pick<InteractionSettings, "requestsStream" | "activeJobTtlS">,
  userId: bigint,
  requestId: string,
  by: bigint,
): Promise<string | null> {
  // stringify gives undefined only for undefined or a function: an object always gives its text.
  const cancel = String(stringify({ request_id: requestId, user_id: userId, by }));
  return await scripted(redis).digitsCancelClaimAndRequest(
    cancelKey(userId, requestId),
    settings.requestsStream,
    by.toString(),
    settings.activeJobTtlS,
    REQUESTS_STREAM_MAXLEN,
    CANCEL_FIELD,
    cancel,
  );
}

export async function handleCancel(interaction: UserInteraction & { kind: "button" }, deps: CancelDeps): Promise<string> {
  const job = parseCancelId(interaction.customId);
  if (job === null) return "This button does nothing any more.";
  const by = interaction.userId;
  if (by !== job.userId && !deps.settings.adminUserIds.has(by.toString())) {
    return `Only <@${job.userId.toString()}>, who started this job, or an admin can cancel it. Nothing was changed.`;
  }
  const active = (await isActive(deps.redis, job.userId, job.requestId, deps.now())) || (await deps.isOpen(job.userId, job.requestId));
  if (!active) return "This job has already ended: there is nothing to cancel.";
  const earlier = await requestCancel(deps.redis, deps.settings, job.userId, job.requestId, by);
  if (earlier !== null) return `This job is already being cancelled (by <@${earlier}>); nothing more to do.`;
  return "Cancelling: the job's message will say when it has stopped.";
}
