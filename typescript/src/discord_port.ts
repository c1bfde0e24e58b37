// What delivery needs from Discord, so that the REST client, the dry-run printer and test fakes
// are interchangeable. Ports speak in OutgoingMessage; delivery decides what goes in one.

import type { APIActionRowComponent, APIComponentInMessageActionRow, APIEmbed } from "discord-api-types/v10";

export interface MessageRef {
  readonly channelId: string;
  readonly messageId: string;
}

/** File name of the chart attachment; the embed shows it as attachment://CHART_FILE_NAME. */
export const CHART_FILE_NAME = "chart.png";

export interface OutgoingMessage {
  readonly embed?: APIEmbed;
  readonly content?: string;
  /** The only user this message may ping; nobody when absent, whatever the text says. */
  readonly mentionUserId?: bigint;
  /** Shown as a reply to this message of the same channel. */
  readonly replyTo?: string;
  /** Creates only: Discord refuses a second message with this nonce (enforce_nonce). */
  readonly nonce?: string;
  /** A PNG uploaded as CHART_FILE_NAME; absent on edits that keep the earlier upload. */
  readonly chartPng?: Uint8Array;
  /**
   * Buttons (the Cancel button). Absent: an edit keeps the message's buttons as they are;
   * `[]` removes them (a job that has ended must send `[]`).
   */
  readonly components?: readonly APIActionRowComponent<APIComponentInMessageActionRow>[];
}

export interface DiscordPort {
  /** Returns the id of the DM channel with this user. */
  openDm(userId: bigint): Promise<string>;
  /** Posts a message and returns its id. */
  createMessage(channelId: string, message: OutgoingMessage): Promise<string>;
  editMessage(ref: MessageRef, message: OutgoingMessage): Promise<void>;
}

/**
 * rate_limited: wait retryAfterMs; unknown_message: the message was deleted; unknown_channel:
 * the channel (or DM) is gone; too_old: Discord refuses edits of this message (30046);
 * dms_closed: the user does not accept DMs (50007); forbidden: no access to the channel (403);
 * unauthorized: the token is refused (401), fatal for the whole bot; failed: anything else,
 * taken as transient.
 */
export type DeliveryErrorKind =
  "rate_limited" | "unknown_message" | "unknown_channel" | "too_old" | "dms_closed" | "forbidden" | "unauthorized" | "failed";

/** The only error a DiscordPort throws. */
export class DeliveryError extends Error {
  override readonly name = "DeliveryError";

  constructor(
    readonly kind: DeliveryErrorKind,
    message: string,
    /** For rate_limited: how long Discord asked us to wait (0 when it did not say). */
    readonly retryAfterMs = 0,
  ) {
    super(message);
  }
}
