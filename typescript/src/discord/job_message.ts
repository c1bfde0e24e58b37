// What /train (interactions/train.ts) and the delivery must agree on about a job's messages: the
// nonce of the nth message created for a job, so that a create retried by either side (or by another
// bot) gets the same message back from Discord instead of a second one; and the line that mentions
// a requester whose DMs are closed, in the channel the message moved to.

import { createHash } from "node:crypto";

/** Discord nonces are at most 25 characters; the same job and step always give the same one. */
export function nonceFor(key: string, step: string): string {
  return createHash("sha256").update(`${key}\n${step}`).digest("base64url").slice(0, 25);
}

/**
 * The nonce of the `n`th message created for the job under `key`. /train's Queued message is the
 * first (n = 0): a delivery that never learnt its id then gets it back from Discord and edits it.
 */
export function messageNonce(key: string, n = 0): string {
  return nonceFor(key, `message-${n}`);
}

/** The first message of a job moved to the notify channel because its user's DMs are closed. */
export function closedDmsMention(userId: bigint): string {
  return `<@${userId.toString()}> your training job (your DMs are closed to the bot)`;
}
