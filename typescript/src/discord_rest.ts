// DiscordPort over Discord's REST API with @discordjs/rest.

import { DiscordAPIError, HTTPError, RateLimitError, REST } from "@discordjs/rest";
import { Routes, type RESTPostAPIChannelMessageJSONBody } from "discord-api-types/v10";
import { z } from "zod";
import { DISCORD_UNKNOWN_CHANNEL, DISCORD_UNKNOWN_MESSAGE } from "./config.ts";
import { DeliveryError, type DiscordPort, type MessageRef } from "./discord_port.ts";
import type { RenderedMessage } from "./render.ts";

/** The only part of Discord's channel and message objects the bot reads. */
const WithId = z.object({ id: z.string().min(1) });

function body(message: RenderedMessage): RESTPostAPIChannelMessageJSONBody {
  // Nothing in an update may ping anyone, whatever the text says.
  return { embeds: [message.embed], allowed_mentions: { parse: [] } };
}

function toDeliveryError(error: unknown): DeliveryError {
  if (error instanceof RateLimitError) {
    return new DeliveryError("rate_limited", `rate limited on ${error.route}`, error.retryAfter);
  }
  if (error instanceof DiscordAPIError) {
    const text = `Discord ${error.status} (${String(error.code)}): ${error.message}`;
    if (error.code === DISCORD_UNKNOWN_CHANNEL) return new DeliveryError("unknown_channel", text);
    if (error.code === DISCORD_UNKNOWN_MESSAGE || error.status === 404) return new DeliveryError("unknown_message", text);
    return new DeliveryError("failed", text);
  }
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
}

export class RestDiscordPort implements DiscordPort {
  private readonly rest: REST;

  constructor(options: RestPortOptions) {
    this.rest = new REST({
      api: options.apiUrl,
      version: "10",
      // Throw on a 429 instead of replaying the stale body: delivery retries with the newest state.
      rejectOnRateLimit: () => true,
      offset: 0,
      retries: 2,
      timeout: 10_000,
    }).setToken(options.token);
  }

  async openDm(userId: bigint): Promise<string> {
    // The id goes out as a decimal string, exactly as Discord expects snowflakes.
    const response = await call(() => this.rest.post(Routes.userChannels(), { body: { recipient_id: userId.toString() } }));
    return idOf(response, "the DM channel");
  }

  async createMessage(channelId: string, message: RenderedMessage): Promise<string> {
    const response = await call(() => this.rest.post(Routes.channelMessages(channelId), { body: body(message) }));
    return idOf(response, "the new message");
  }

  async editMessage(ref: MessageRef, message: RenderedMessage): Promise<void> {
    await call(() => this.rest.patch(Routes.channelMessage(ref.channelId, ref.messageId), { body: body(message) }));
  }
}
