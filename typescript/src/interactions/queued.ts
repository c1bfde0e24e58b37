// The job's live message as first shown, the moment /train is accepted: "Queued", what was asked
// for, and the Cancel button. It is sent only once the request is on the stream (train.ts); the
// bot's events then edit this same message.

import type { OutgoingMessage } from "../discord/discord_port.ts";
import type { DigitsTrainV1 } from "../generated/contracts.ts";
import { clip, escapeText } from "../view/escape.ts";
import { cancelButton } from "../view/cancel_button.ts";

const QUEUED_COLOR = 0x99aab5;
const TITLE_MAX = 256;
const NOTES_MAX = 500;

export function queuedMessage(request: DigitsTrainV1, ahead: number): OutgoingMessage {
  const button = cancelButton(request.user_id, request.request_id);
  const lines = [
    ahead === 0 ? "Next in line" : `${ahead} job${ahead === 1 ? "" : "s"} ahead of it (queued or running)`,
    `Epochs ${request.epochs} · batch ${request.batch_size} · lr ${request.lr} · seed ${request.seed} · augment ${request.augment ? "on" : "off"}`,
    `Request ${escapeText(request.request_id)}`,
  ];
  if (request.notes !== null && request.notes !== "") lines.push(`Notes: ${escapeText(request.notes, NOTES_MAX)}`);
  return {
    embed: { title: clip(`Queued · ${escapeText(request.model_id)}`, TITLE_MAX), color: QUEUED_COLOR, description: lines.join("\n") },
    // Discord refuses a second message with the same nonce: a retried create is not posted twice.
    nonce: `q${request.request_id.slice(0, 24)}`,
    ...(button === null ? {} : { components: [button] }),
  };
}
