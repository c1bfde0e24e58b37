// What delivery needs from Discord, so that the REST client, the dry-run printer and test fakes
// are interchangeable.

import type { RenderedMessage } from "./render.ts";

export interface MessageRef {
  readonly channelId: string;
  readonly messageId: string;
}

export interface DiscordPort {
  /** Returns the id of the DM channel with this user. */
  openDm(userId: bigint): Promise<string>;
  /** Posts a message and returns its id. */
  createMessage(channelId: string, message: RenderedMessage): Promise<string>;
  editMessage(ref: MessageRef, message: RenderedMessage): Promise<void>;
}

/** unknown_message: the message was deleted; unknown_channel: the channel (or DM) is gone. */
export type DeliveryErrorKind = "rate_limited" | "unknown_message" | "unknown_channel" | "failed";

/** The only error a DiscordPort throws. */
export class DeliveryError extends Error {
  override readonly name = "DeliveryError";

  constructor(
    readonly kind: DeliveryErrorKind,
    message: string,
    /** For rate_limited: how long Discord asked us to wait. */
    readonly retryAfterMs = 0,
  ) {
    super(message);
  }
}
