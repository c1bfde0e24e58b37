// The bot reads the event log only, but some producers only PUBLISH on the events channel (the
// old trainer's Publisher, workers of an earlier release during a rollout). The bridge subscribes
// to the channel on its own connection and appends each valid message's exact text to the log,
// where the bots read it like any other entry. One Lua script per message claims the text
// (SET NX EX on the SHA-256 key EVENTS_SEEN_KEY) and XADDs only when the claim is won, so with
// several bots a message is appended once; producers that log an event themselves set that key
// before they PUBLISH, so what they logged is not appended again. Pub/Sub keeps nothing: what is
// published while no bot is subscribed never reaches the log (typescript/README.md, *Event log*).

import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { BRIDGE_ATTEMPTS, CHANNEL_SEEN_TTL_S, MAX_BRIDGE_QUEUE, STREAM_TRIM_EVERY_MS } from "../shared/limits.ts";
import { decodeEventBytes } from "./decode.ts";
import { backoffMs } from "../shared/backoff.ts";
import { EVENTS_SEEN_KEY } from "../generated/names.ts";
import { categoryOf, type InvalidLog } from "./invalid_log.ts";
import { redactUrl, snippet, type Logger } from "../shared/log.ts";
import { scripted } from "../shared/redis_scripts.ts";

export interface BridgeStats {
  /** Messages heard on the channel. */
  heard: number;
  /** Appended to the log by this bot. */
  appended: number;
  /** Already in the log (their producer logs them) or appended by another bot. */
  alreadyLogged: number;
  invalid: number;
  /** Lost: the queue was full, or Redis refused every try, or the bot was stopping. */
  dropped: number;
}

export interface BridgeOptions {
  /** A connection of its own: once subscribed it takes no other commands. */
  readonly subscriber: Redis;
  readonly commands: Redis;
  readonly channel: string;
  readonly stream: string;
  readonly streamMaxlen: number;
  readonly streamMaxAgeS: number;
  /** For log lines only (the password redacted). */
  readonly redisUrl: string;
  readonly logger: Logger;
  /** Shared with the log reader: invalid input is logged and counted the same way. */
  readonly invalid: InvalidLog;
}

/** The key that marks `text` as in the log: EVENTS_SEEN_KEY with the hex SHA-256 of its bytes. */
export function seenKeyOf(text: Uint8Array): string {
  return EVENTS_SEEN_KEY.replace("{sha256}", createHash("sha256").update(text).digest("hex"));
}

export class ChannelBridge {
  readonly stats: BridgeStats = { heard: 0, appended: 0, alreadyLogged: 0, invalid: 0, dropped: 0 };
  private readonly queue: Buffer[] = [];
  private draining: Promise<void> = Promise.resolve();
  private busy = false;
  private subscribed = false;
  private stopped = false;
  /** Whether dropping for a full queue was logged (once until the queue empties). */
  private overflowing = false;
  private nextTrimAt = 0;

  private readonly commands: Redis;

  constructor(private readonly options: BridgeOptions) {
    this.commands = scripted(options.commands);
  }

  /** Subscribes; resolves once Redis confirmed the subscription. */
  async start(): Promise<void> {
    const { subscriber, channel, stream, redisUrl, logger } = this.options;
    subscriber.on("messageBuffer", (_channel: Buffer, message: Buffer) => {
      this.heard(message);
    });
    subscriber.on("ready", () => {
      // ioredis subscribes again by itself after a reconnect.
      if (this.subscribed) {
        logger.info(
          `channel ${channel}: reconnected to ${redactUrl(redisUrl)}, subscribing again; messages published while disconnected reach the log only if their producer logs them`,
        );
      }
    });
    await subscriber.subscribe(channel); // connects a lazy connection first
    this.subscribed = true;
    logger.info(`bridging channel ${channel} into ${stream} (messages not already in the log) at ${redactUrl(redisUrl)}`);
  }

  /** Takes one message off the channel: invalid ones are counted, valid ones queued for the log. */
  heard(message: Buffer): void {
    if (this.stopped) return;
    this.stats.heard += 1;
    const decoded = decodeEventBytes(message);
    if (decoded.kind === "invalid") {
      this.stats.invalid += 1;
      this.options.invalid.record(categoryOf(decoded.reason), `on the channel: ${decoded.reason}`, message.toString("utf8"));
      return;
    }
    if (this.queue.length >= MAX_BRIDGE_QUEUE) {
      this.stats.dropped += 1;
      if (!this.overflowing) {
        this.options.logger.warn(
          `channel ${this.options.channel}: ${MAX_BRIDGE_QUEUE} messages wait for Redis; dropping new ones (counted in stats)`,
        );
      }
      this.overflowing = true;
      return;
    }
    this.queue.push(message);
    if (!this.busy) this.draining = this.drain();
  }

  /** Stops taking messages; resolves once the append in hand is done (what still waits is dropped). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.draining;
  }

  private async drain(): Promise<void> {
    this.busy = true;
    for (let text = this.queue.shift(); text !== undefined; text = this.queue.shift()) {
      if (this.stopped) this.stats.dropped += 1;
      else await this.append(text);
    }
    this.overflowing = false;
    this.busy = false;
  }

  /** Appends one message unless it is in the log already; retried with backoff, then dropped. */
  private async append(text: Buffer): Promise<void> {
    const { stream, streamMaxlen, streamMaxAgeS, logger } = this.options;
    for (let attempt = 1; ; attempt += 1) {
      const now = Date.now();
      const trim = now >= this.nextTrimAt;
      try {
        const minId = trim ? `${now - streamMaxAgeS * 1000}-0` : "";
        const appended = await this.commands.digitsAppendUnseenEvent(
          seenKeyOf(text),
          stream,
          text,
          CHANNEL_SEEN_TTL_S,
          streamMaxlen,
          minId,
        );
        if (trim) this.nextTrimAt = now + STREAM_TRIM_EVERY_MS;
        if (appended === 1) this.stats.appended += 1;
        else this.stats.alreadyLogged += 1;
        return;
      } catch (error) {
        const reason = String(error);
        if (attempt >= BRIDGE_ATTEMPTS || this.stopped) {
          this.stats.dropped += 1;
          logger.warn(
            `could not append a channel message to ${stream} (${attempt} tries, last: ${reason}); it is lost: ${snippet(text.toString("utf8"))}`,
          );
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt, 200)));
      }
    }
  }
}
