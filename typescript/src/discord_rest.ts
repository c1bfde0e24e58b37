// DiscordPort over Discord's REST API with @discordjs/rest: turns an OutgoingMessage into a JSON or
// multipart body and Discord's errors into DeliveryError kinds that delivery acts on.

import { DiscordAPIError, HTTPError, RateLimitError, REST, type RawFile } from "@discordjs/rest";
import { Routes, type RESTPostAPIChannelMessageJSONBody } from "discord-api-types/v10";
import { z } from "zod";
import { DISCORD_DMS_CLOSED, DISCORD_MESSAGE_TOO_OLD, DISCORD_UNKNOWN_CHANNEL, DISCORD_UNKNOWN_MESSAGE } from "./config.ts";
import {
  CHART_FILE_NAME,
  DeliveryError,
  type CreatedMessage,
  type DiscordPort,
  type MessageRef,
  type OutgoingMessage,
} from "./discord_port.ts";

/** The only part of Discord's channel and message objects the bot reads. */
const WithId = z.object({ id: z.string().min(1) });
const Shown = z.object({
  content: z.string().nullish(),
  embeds: z
    .array(
      z.object({
        title: z.string().optional(),
        description: z.string().optional(),
        fields: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
        footer: z.object({ text: z.string() }).optional(),
      }),
    )
    .optional(),
});

export function messageBody(message: OutgoingMessage, create: boolean): RESTPostAPIChannelMessageJSONBody {
  return {
    ...(message.embed !== undefined ? { embeds: [message.embed] } : {}),
    ...(message.content !== undefined ? { content: message.content } : {}),
    // Nothing may ping anyone but the one user named, whatever the text says.
    allowed_mentions: message.mentionUserId === undefined ? { parse: [] } : { parse: [], users: [message.mentionUserId.toString()] },
    ...(message.replyTo !== undefined ? { message_reference: { message_id: message.replyTo, fail_if_not_exists: false } } : {}),
    ...(create && message.nonce !== undefined ? { nonce: message.nonce, enforce_nonce: true } : {}),
    ...(message.chartPng !== undefined ? { attachments: [{ id: "0", filename: CHART_FILE_NAME }] } : {}),
    ...(message.components !== undefined ? { components: [...message.components] } : {}),
  };
}

function files(message: OutgoingMessage): RawFile[] | undefined {
  if (message.chartPng === undefined) return undefined;
  return [{ name: CHART_FILE_NAME, data: Buffer.from(message.chartPng), contentType: "image/png" }];
}

export function toDeliveryError(error: unknown): DeliveryError {
  if (error instanceof RateLimitError) {
    // Without a Retry-After header the client reports 0; delivery floors and backs off.
    return new DeliveryError("rate_limited", `rate limited on ${error.route}`, error.retryAfter);
  }
  if (error instanceof DiscordAPIError) {
    const text = `Discord ${error.status} (${String(error.code)}): ${error.message}`;
    if (error.status === 401) return new DeliveryError("unauthorized", text);
    if (error.code === DISCORD_DMS_CLOSED) return new DeliveryError("dms_closed", text);
    if (error.code === DISCORD_MESSAGE_TOO_OLD) return new DeliveryError("too_old", text);
    if (error.status === 403) return new DeliveryError("forbidden", text);
    if (error.code === DISCORD_UNKNOWN_CHANNEL) return new DeliveryError("unknown_channel", text);
    if (error.code === DISCORD_UNKNOWN_MESSAGE || error.status === 404) return new DeliveryError("unknown_message", text);
    return new DeliveryError("failed", text);
  }
  // The client throws HTTPError only for a 5xx that outlived its retries (a 401 is a DiscordAPIError).
  if (error instanceof HTTPError) return new DeliveryError("failed", `Discord HTTP ${error.status}: ${error.message}`);
  return new DeliveryError("failed", error instanceof Error ? error.message : String(error));
}

async function call<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    throw toDeliveryError(error);
  }
}

function idOf(response: unknown, what: string): string {
  const parsed = WithId.safeParse(response);
  if (!parsed.success) throw new DeliveryError("failed", `Discord answered ${what} without an id`);
  return parsed.data.id;
}

export interface RestPortOptions {
  readonly token: string;
  /** e.g. https://discord.com/api; tests use a local server. */
  readonly apiUrl: string;
  /** Per request, in ms (default 10 s). */
  readonly timeoutMs?: number;
}

export class RestDiscordPort implements DiscordPort {
  private readonly rest: REST;

  constructor(options: RestPortOptions) {
    this.rest = new REST({
      api: options.apiUrl,
      version: "10",
      // Throw on a 429 instead of replaying the stale body: delivery retries with the newest state.
      rejectOnRateLimit: () => true,
      // The client's default safety offset (50 ms) stays: it is added to every Retry-After.
      retries: 2,
      timeout: options.timeoutMs ?? 10_000,
    }).setToken(options.token);
  }

  async openDm(userId: bigint): Promise<string> {
    // The id goes out as a decimal string, exactly as Discord expects snowflakes.
    const response = await call(() => this.rest.post(Routes.userChannels(), { body: { recipient_id: userId.toString() } }));
    return idOf(response, "the DM channel");
  }

  async createMessage(channelId: string, message: OutgoingMessage): Promise<CreatedMessage> {
    const upload = files(message);
    const response = await call(() =>
      this.rest.post(Routes.channelMessages(channelId), {
        body: messageBody(message, true),
        ...(upload !== undefined ? { files: upload } : {}),
      }),
    );
    const id = idOf(response, "the new message");
    const shown = Shown.safeParse(response);
    // Discord always answers with the whole message; without content or embeds it cannot be compared.
    if (!shown.success || shown.data.embeds === undefined) return { id };
    return { id, shown: { content: shown.data.content ?? "", embeds: shown.data.embeds } };
  }

  /** Edits the deferred answer of an interaction (its webhook's @original message; no bot token). */
  async editOriginal(applicationId: string, token: string, content: string): Promise<void> {
    await call(() =>
      this.rest.patch(Routes.webhookMessage(applicationId, token, "@original"), {
        body: { content, allowed_mentions: { parse: [] } },
        auth: false,
      }),
    );
  }

  async editMessage(ref: MessageRef, message: OutgoingMessage): Promise<void> {
    const upload = files(message);
    await call(() =>
      this.rest.patch(Routes.channelMessage(ref.channelId, ref.messageId), {
        body: messageBody(message, false),
        ...(upload !== undefined ? { files: upload } : {}),
      }),
    );
  }
}
