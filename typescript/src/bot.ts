// The receive loop's body: decode, fold, render, deliver. Never throws.

import { MAX_EVENT_BYTES } from "./config.ts";
import { decodeEvent, type DecodeResult } from "./decode.ts";
import type { Delivery, Target } from "./delivery.ts";
import { JobBook } from "./jobs.ts";
import { snippet, type Logger } from "./log.ts";
import { renderJob } from "./render.ts";
import { isTerminal, type JobState } from "./state.ts";

export interface BotStats {
  received: number;
  invalid: number;
  ignored: number;
  updates: number;
  errors: number;
}

export interface BotOptions {
  readonly delivery: Delivery;
  readonly logger: Logger;
  /** Post every job here instead of a DM to its user. */
  readonly notifyChannelId: string | null;
  readonly book?: JobBook;
}

// fatal: invalid UTF-8 is refused rather than silently turned into U+FFFD.
// ignoreBOM: a BOM stays in the text, so it is refused as JSON, as the Python side does.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes raw bytes from Redis: size first, then strict UTF-8, then JSON and schema. */
export function decodeEventBytes(bytes: Uint8Array): DecodeResult {
  if (bytes.byteLength > MAX_EVENT_BYTES) return { kind: "invalid", reason: `message larger than ${MAX_EVENT_BYTES} bytes` };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { kind: "invalid", reason: "not UTF-8" };
  }
  return decodeEvent(text);
}

export class Bot {
  readonly stats: BotStats = { received: 0, invalid: 0, ignored: 0, updates: 0, errors: 0 };
  readonly book: JobBook;
  private readonly delivery: Delivery;
  private readonly logger: Logger;
  private readonly notifyChannelId: string | null;

  constructor(options: BotOptions) {
    this.delivery = options.delivery;
    this.logger = options.logger;
    this.notifyChannelId = options.notifyChannelId;
    this.book = options.book ?? new JobBook();
  }

  /** Handles one message from the events channel. */
  handle(raw: Uint8Array | string): void {
    this.stats.received += 1;
    try {
      const decoded = typeof raw === "string" ? decodeEvent(raw) : decodeEventBytes(raw);
      if (decoded.kind === "invalid") {
        this.stats.invalid += 1;
        const text = typeof raw === "string" ? raw : Buffer.from(raw).toString("utf8");
        this.logger.warn(`invalid event #${this.stats.invalid} (${decoded.reason}): ${snippet(text)}`);
        return;
      }
      const result = this.book.apply(decoded);
      if (result.kind === "ignored") {
        this.stats.ignored += 1;
        return;
      }
      this.stats.updates += 1;
      this.delivery.publish(result.state.requestId, this.targetOf(result.state), renderJob(result.state), isTerminal(result.state.status));
    } catch (error) {
      // A bug must not stop the loop; count it and go on with the next message.
      this.stats.errors += 1;
      this.logger.warn(`unexpected error handling an event: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }

  private targetOf(state: JobState): Target {
    return this.notifyChannelId === null ? { kind: "dm", userId: state.userId } : { kind: "channel", channelId: this.notifyChannelId, userId: state.userId };
  }
}
