// The Cancel button on a job's live message, as the view draws it, and the job its custom_id names.
// What pressing it does is interactions/cancel.ts's; both read the custom_id through this module.

import type { APIActionRowComponent, APIButtonComponent } from "discord-api-types/v10";
import { ButtonStyle, ComponentType } from "discord-api-types/v10";

/** A Cancel button's custom_id: this prefix, then `<user_id>:<request_id>`. */
export const CANCEL_ID_PREFIX = "digits:cancel:";
/** Discord's limit on a component's custom_id. */
export const CUSTOM_ID_MAX = 100;

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
