// DiscordPort over Discord's REST API with @discordjs/rest: turns an OutgoingMessage into a JSON or
// multipart body and Discord's errors into DeliveryError kinds that delivery acts on.

import { DiscordAPIError, HTTPError, RateLimitError, REST, RESTEvents, type RawFile } from "@discordjs/rest";
import { Routes, type RESTPostAPIChannelMessageJSONBody } from "discord-api-types/v10";
import { z } from "zod";
import { answerKindOf } from "./discord_answers.ts";
import {
  CHART_FILE_NAME,
  type CreatedMessage,
  DeliveryError,
  type DiscordPort,
  type MessageRef,
  type OutgoingMessage,
  RICH_PNG_NAME,
  type RichReply,
  type ShownMessage,
} from "./discord_port.ts";

/** The only part of Discord's channel and message objects the bot reads. */
const WithId = z.object({ id: z.string().min(1) });
const Shown = z.object({
  content: z.string().nullish(),
  components: z.array(z.unknown()).optional(),
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

/** The part of a 429's body the bot reads (Discord's rate limit response structure). */
const RateLimitBody = z.object({
  code: z.number().int().optional(),
  global: z.boolean().optional(),
  retry_after: z.number().nonnegative().optional(),
  message: z.string().optional(),
});

/**
 * `rateLimitBody`: the JSON body of the 429 behind a RateLimitError, or undefined when the client
 * threw before sending anything (its own bucket said wait). A 429 whose body carries an error code
 * of its own (30046) is that error, not a rate limit.
 */
export function toDeliveryError(error: unknown, rateLimitBody?: unknown): DeliveryError {
  if (error instanceof RateLimitError) {
    const body = RateLimitBody.safeParse(rateLimitBody ?? {});
    const data = body.success ? body.data : {};
    const code = data.code ?? null;
    const kind = answerKindOf(429, code);
    const text = `Discord 429 (${String(code ?? 0)}) on ${error.method.toUpperCase()} ${error.route}: ${data.message ?? "rate limited"}`;
    if (kind !== "rate_limited") return new DeliveryError(kind, text);
    // Without a Retry-After header the client reports 0: the body's retry_after (seconds) says it.
    const retryAfterMs = error.retryAfter > 0 ? error.retryAfter : Math.ceil((data.retry_after ?? 0) * 1000);
    const scope = rateLimitBody === undefined ? null : error.global || data.global === true ? "global" : error.scope;
    return new DeliveryError("rate_limited", text, retryAfterMs, scope);
  }
  if (error instanceof DiscordAPIError) {
    const code = typeof error.code === "number" ? error.code : null;
    return new DeliveryError(answerKindOf(error.status, code), `Discord ${error.status} (${String(error.code)}): ${error.message}`);
  }
  // The client throws HTTPError for a 5xx (it resends nothing: retries 0; a 401 is a DiscordAPIError).
  if (error instanceof HTTPError) return new DeliveryError("failed", `Discord HTTP ${error.status}: ${error.message}`);
  return new DeliveryError("failed", error instanceof Error ? error.message : String(error));
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
  /** The body of each request's 429, by the request's own signal (see `call`). */
  private readonly rateLimitBodies = new WeakMap<AbortSignal, Promise<unknown>>();

  constructor(options: RestPortOptions) {
    this.rest = new REST({
      api: options.apiUrl,
      version: "10",
      // Throw on a 429 instead of replaying the stale body: delivery retries with the newest state.
      rejectOnRateLimit: () => true,
      // The client's default safety offset (50 ms) stays: it is added to every Retry-After.
      // No resend by the client (a 5xx, a timeout): it would go out long after delivery's fence
      // check, maybe once another bot holds the job (chaos seed 28: a completed message edited back
      // to Training). Delivery resends, with the newest state, after checking the lease again.
      retries: 0,
      timeout: options.timeoutMs ?? 10_000,
    }).setToken(options.token);
    // With rejectOnRateLimit the client throws a RateLimitError that carries the headers but not
    // the body, and 30046 arrives as a 429 with its code only in the body. The client hands every
    // response to RESTEvents.Response listeners (synchronously, before it throws), with the
    // request's data, signal included: the body is read there, and the bucket handling (Retry-After,
    // X-RateLimit-Global, sublimits) stays the client's.
    this.rest.on(RESTEvents.Response, (request, response) => {
      const signal = request.data.signal;
      if (response.status !== 429 || signal === undefined) return;
      this.rateLimitBodies.set(
        signal,
        response.json().catch(() => null),
      );
    });
  }

  /** Runs one request with its own signal, so that a 429's body can be found; errors become DeliveryErrors. */
  private async call<T>(request: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = new AbortController().signal;
    try {
      return await request(signal);
    } catch (error) {
      throw toDeliveryError(error, error instanceof RateLimitError ? await this.rateLimitBodies.get(signal) : undefined);
    }
  }

  async openDm(userId: bigint): Promise<string> {
    // The id goes out as a decimal string, exactly as Discord expects snowflakes.
    const response = await this.call((signal) =>
      this.rest.post(Routes.userChannels(), { body: { recipient_id: userId.toString() }, signal }),
    );
    return idOf(response, "the DM channel");
  }

  async createMessage(channelId: string, message: OutgoingMessage): Promise<CreatedMessage> {
    const upload = files(message);
    const response = await this.call((signal) =>
      this.rest.post(Routes.channelMessages(channelId), {
        body: messageBody(message, true),
        signal,
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
  async editOriginal(applicationId: string, token: string, content: string, rich?: RichReply): Promise<void> {
    const png = rich?.png;
    await this.call((signal) =>
      this.rest.patch(Routes.webhookMessage(applicationId, token, "@original"), {
        body: {
          content,
          allowed_mentions: { parse: [] },
          ...(rich !== undefined ? { embeds: [rich.embed] } : {}),
          ...(png !== undefined ? { attachments: [{ id: "0", filename: RICH_PNG_NAME }] } : {}),
        },
        ...(png !== undefined ? { files: [{ name: RICH_PNG_NAME, data: Buffer.from(png), contentType: "image/png" }] } : {}),
        signal,
        auth: false,
      }),
    );
  }

  /**
   * Discord's docs, "Message Resource" > "Get Channel Message": GET
   * /channels/{channel.id}/messages/{message.id} returns the message object (content, embeds,
   * components); in a guild channel it needs READ_MESSAGE_HISTORY. Errors are DeliveryErrors as
   * for any request (10008 unknown message, 10003 unknown channel, 403, 429, 5xx).
   */
  async getMessage(ref: MessageRef): Promise<ShownMessage | null> {
    const response = await this.call((signal) => this.rest.get(Routes.channelMessage(ref.channelId, ref.messageId), { signal }));
    const shown = Shown.safeParse(response);
    // Without embeds or components it cannot be compared: not known.
    if (!shown.success || shown.data.embeds === undefined || shown.data.components === undefined) return null;
    return { content: shown.data.content ?? "", embeds: shown.data.embeds, componentRows: shown.data.components.length };
  }

  async editMessage(ref: MessageRef, message: OutgoingMessage): Promise<void> {
    const upload = files(message);
    await this.call((signal) =>
      this.rest.patch(Routes.channelMessage(ref.channelId, ref.messageId), {
        body: messageBody(message, false),
        signal,
        ...(upload !== undefined ? { files: upload } : {}),
      }),
    );
  }
}
