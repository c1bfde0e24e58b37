// What delivery needs from Discord, so that the REST client, the dry-run printer and test fakes
// are interchangeable. Ports speak in OutgoingMessage; delivery decides what goes in one.

import type { AnswerKind } from "./discord_answers.ts";
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

/** File name of a rich interaction answer's picture (interactions/ builds it, the REST client sends it); its embed shows it as attachment://RICH_PNG_NAME. */
export const RICH_PNG_NAME = "input.png";

/** An answer with an embed and, optionally, a PNG it shows as attachment://RICH_PNG_NAME. */
export interface RichReply {
  readonly content: string;
  readonly embed: APIEmbed;
  readonly png?: Uint8Array;
}

/** The parts of an embed that say what a message shows (Discord's answer carries more). */
export interface ShownEmbed {
  readonly title?: string | undefined;
  readonly description?: string | undefined;
  readonly fields?: readonly { readonly name: string; readonly value: string }[] | undefined;
  readonly footer?: { readonly text: string } | undefined;
}

/** A message as Discord holds it. */
export interface ShownMessage {
  readonly content: string;
  readonly embeds: readonly ShownEmbed[];
  /** How many rows of components (buttons) it shows; absent: not known. */
  readonly componentRows?: number;
}

/**
 * What a create answered. With a nonce Discord already saw (a create retried after its answer
 * was lost, by this bot or by one that died), Discord creates nothing and answers with the earlier
 * message as it stands, which may show an older state: `shown` says what the message shows.
 * Absent: the port cannot tell, and the message shows what was sent.
 */
export interface CreatedMessage {
  readonly id: string;
  readonly shown?: ShownMessage;
}

function fingerprint(embed: ShownEmbed | undefined): string {
  if (embed === undefined) return "";
  const fields = (embed.fields ?? []).map((field) => [field.name, field.value]);
  return JSON.stringify([embed.title ?? "", embed.description ?? "", fields, embed.footer?.text ?? ""]);
}

/** Whether the created message shows what was sent (false: an earlier message came back; edit it). */
export function showsSent(sent: OutgoingMessage, created: CreatedMessage): boolean {
  const shown = created.shown;
  if (shown === undefined) return true;
  return (sent.content ?? "") === shown.content && fingerprint(sent.embed) === fingerprint(shown.embeds[0]);
}

/**
 * Whether a message already shows a job's final state (its embed, sent with `components: []` and no
 * content): no content, no buttons left and the final state's title (the job's outcome). Its details
 * may differ (an event of the job that reached the store after that state was shown, such as the
 * pruned-snapshots note): it is left as it is, since nothing edits a message after its final state.
 * A message of unknown buttons, or a state that keeps buttons, is never taken as shown: it is edited.
 */
export function showsFinal(embed: ShownEmbed, components: readonly unknown[] | undefined, shown: ShownMessage): boolean {
  if (components?.length !== 0 || shown.componentRows !== 0) return false;
  return shown.content === "" && embed.title !== undefined && embed.title === shown.embeds[0]?.title;
}

export interface DiscordPort {
  /** Returns the id of the DM channel with this user. */
  openDm(userId: bigint): Promise<string>;
  /** Posts a message; an earlier one when its nonce was used before (see CreatedMessage). */
  createMessage(channelId: string, message: OutgoingMessage): Promise<CreatedMessage>;
  editMessage(ref: MessageRef, message: OutgoingMessage): Promise<void>;
  /**
   * What the message shows now (Discord's "Get Channel Message", GET
   * /channels/{channel.id}/messages/{message.id}, answers the message object); null when the port
   * cannot tell. Read before a final edit of a message another owner may have finished already.
   */
  getMessage(ref: MessageRef): Promise<ShownMessage | null>;
}

/**
 * What Discord answered, as delivery tells answers apart (`discord_answers.ts` recognises them and
 * says what to do with each): rate_limited: wait retryAfterMs; too_old: 30046; unknown_message,
 * unknown_channel, unknown_user: 10008, 10003, 10013; dms_closed: 50007; forbidden: 403;
 * invalid: a body or id Discord refuses (400); unauthorized: 401; failed: 5xx, timeout, no answer.
 */
export type DeliveryErrorKind = AnswerKind;

/**
 * Whose limit a 429 was (X-RateLimit-Scope; X-RateLimit-Global): global holds every request of the
 * bot, user and shared (per resource, not counted toward the invalid-request limit) the route's
 * channel; null: the client's own wait, no request was sent.
 */
export type RateLimitScope = "global" | "user" | "shared" | null;

/** The only error a DiscordPort throws. */
export class DeliveryError extends Error {
  override readonly name = "DeliveryError";

  constructor(
    readonly kind: DeliveryErrorKind,
    message: string,
    /** For rate_limited: how long Discord asked us to wait (0 when it did not say). */
    readonly retryAfterMs = 0,
    readonly scope: RateLimitScope = null,
  ) {
    super(message);
  }
}
