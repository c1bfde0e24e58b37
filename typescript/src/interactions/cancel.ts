// The Cancel button on a job's live message, and what pressing it does. Only the requester or an
// admin (DIGITS_ADMIN_USER_IDS) may cancel; the first press records who on the cancel key (which
// the worker side reads), then asks the intake to act through the requests stream.
// A second press, or one after the job ended, changes nothing and says so.

import type { APIActionRowComponent, APIButtonComponent } from "discord-api-types/v10";
import { ButtonStyle, ComponentType } from "discord-api-types/v10";
import type { Redis } from "ioredis";
import { stringify } from "lossless-json";
import { isActive } from "./active.ts";
import type { UserInteraction } from "./server.ts";
import { CANCEL_FIELD, CANCEL_ID_PREFIX, cancelKey, CUSTOM_ID_MAX, REQUESTS_STREAM_MAXLEN, type InteractionSettings } from "./settings.ts";

/**
 * The row with the Cancel button for a job's live message (queued or running), or null when the
 * request id is too long for Discord's 100-character custom_id (such a job has no button).
 */
export function cancelButton(userId: bigint, requestId: string): APIActionRowComponent<APIButtonComponent> | null {
  const customId = `${CANCEL_ID_PREFIX}${userId.toString()}:${requestId}`;
  if (customId.length > CUSTOM_ID_MAX) return null;
  return {
    type: ComponentType.ActionRow,
    components: [{ type: ComponentType.Button, style: ButtonStyle.Danger, label: "Cancel", custom_id: customId }],
  };
}

/** The job a Cancel button names, or null for any other custom_id. */
export function parseCancelId(customId: string): { readonly userId: bigint; readonly requestId: string } | null {
  const match = /^([0-9]{1,20}):(.+)$/s.exec(customId.startsWith(CANCEL_ID_PREFIX) ? customId.slice(CANCEL_ID_PREFIX.length) : "");
  if (match?.[1] === undefined || match[2] === undefined) return null;
  return { userId: BigInt(match[1]), requestId: match[2] };
}

// KEYS: the cancel key. ARGV: who presses, TTL s. The user id of whoever pressed first, or nil when
// this press is the first (then it is recorded): one atomic step, so the earlier one is always known.
const CLAIM = `
local earlier = redis.call('GET', KEYS[1])
if earlier then return earlier end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false`;

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

export async function handleCancel(interaction: UserInteraction & { kind: "button" }, deps: CancelDeps): Promise<string> {
  const job = parseCancelId(interaction.customId);
  if (job === null) return "This button does nothing any more.";
  const by = interaction.userId;
  if (by !== job.userId && !deps.settings.adminUserIds.has(by.toString())) {
    return `Only <@${job.userId.toString()}>, who started this job, or an admin can cancel it. Nothing was changed.`;
  }
  const active = (await isActive(deps.redis, job.userId, job.requestId, deps.now())) || (await deps.isOpen(job.userId, job.requestId));
  if (!active) return "This job has already ended: there is nothing to cancel.";
  const key = cancelKey(job.userId, job.requestId);
  const earlier: unknown = await deps.redis.eval(CLAIM, 1, key, by.toString(), deps.settings.activeJobTtlS);
  if (typeof earlier === "string") return `This job is already being cancelled (by <@${earlier}>); nothing more to do.`;
  // stringify gives undefined only for undefined or a function: an object always gives its text.
  const cancel = String(stringify({ request_id: job.requestId, user_id: job.userId, by }));
  try {
    await deps.redis.xadd(deps.settings.requestsStream, "MAXLEN", "~", REQUESTS_STREAM_MAXLEN, "*", CANCEL_FIELD, cancel);
  } catch (error) {
    await deps.redis.del(key).catch(() => 0); // not sent: a later press may try again
    throw error;
  }
  return "Cancelling: the job's message will say when it has stopped.";
}
