// Reads the event log (a Redis Stream) through a consumer group, so that several bots share the
// entries and a restarted bot goes on where it stopped. An entry is acknowledged only after the
// handler has stored its effect; entries left pending by a consumer that died are claimed after
// an idle time. Any Redis error is logged and retried with capped backoff; nothing is skipped.

import type { Redis } from "ioredis";
import { READ_BLOCK_MS, READ_COUNT } from "../shared/limits.ts";
import { backoffMs } from "../shared/backoff.ts";
import type { Logger } from "../shared/log.ts";

/** Consumers with nothing pending and idle this long are gone for good (a restarted bot's old name). */
const STALE_CONSUMER_MS = 24 * 60 * 60 * 1000;
/** Reading the log is retried at least this often while Redis is away. */
const MAX_READ_RETRY_MS = 5000;

export interface LogEntry {
  readonly id: string;
  /** The `event` field's raw bytes; null when the entry has no such field. */
  readonly event: Buffer | null;
}

export interface ReaderOptions {
  readonly redis: Redis;
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly claimIdleMs: number;
  readonly logger: Logger;
  /** Stores the entries' effects; they are acknowledged once it resolves. */
  readonly handle: (entries: readonly LogEntry[]) => Promise<void>;
}

/** A reply that should be a list; anything else reads as an empty one. */
function listOf(reply: unknown): readonly unknown[] {
  return Array.isArray(reply) ? reply : [];
}

/** Entries of one stream from an XREADGROUP or XAUTOCLAIM reply (a validated boundary). */
export function parseEntries(items: unknown): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const item of listOf(items)) {
    // XAUTOCLAIM lists deleted entries as nil; XREADGROUP gives [id, null] for them.
    if (!Array.isArray(item) || !Buffer.isBuffer(item[0])) continue;
    const fields: unknown = item[1];
    let event: Buffer | null = null;
    if (Array.isArray(fields)) {
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const name: unknown = fields[i];
        const value: unknown = fields[i + 1];
        if (Buffer.isBuffer(name) && name.toString() === "event" && Buffer.isBuffer(value)) event = value;
      }
    }
    entries.push({ id: item[0].toString(), event });
  }
  return entries;
}

/** XREADGROUP of one stream: `[[name, entries]]` in RESP, which ioredis may give as `[name, entries]`. */
export function readReply(reply: unknown): LogEntry[] {
  if (!Array.isArray(reply)) return [];
  const first: unknown = reply[0];
  if (Array.isArray(first)) return parseEntries(first[1]);
  return Buffer.isBuffer(first) ? parseEntries(reply[1]) : [];
}

/** XAUTOCLAIM: `[next cursor, entries, deleted ids]`; the cursor is `0-0` once the scan is through. */
export function claimReply(reply: unknown): { readonly cursor: string; readonly entries: LogEntry[] } {
  const [cursor, entries] = listOf(reply);
  return { cursor: Buffer.isBuffer(cursor) ? cursor.toString() : "0-0", entries: parseEntries(entries) };
}

export class StreamReader {
  private stopped = false;
  private failures = 0;
  /** Own pending entries are read first (after a restart), then new ones. */
  private cursor = "0";
  private lastClaimAt = 0;
  private claimCursor = "0-0";

  constructor(private readonly options: ReaderOptions) {}

  /**
   * Creates the group (and the stream) if needed. A new group starts at the log's end (`$`): a
   * first deployment does not replay old jobs. A group lost while running restarts at `0`.
   */
  async ensureGroup(start: "$" | "0" = "$"): Promise<void> {
    const { redis, stream, group } = this.options;
    try {
      await redis.xgroup("CREATE", stream, group, start, "MKSTREAM");
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith("BUSYGROUP"))) throw error;
    }
  }

  /**
   * Deletes the group's consumers that hold no pending entry and have been idle longer than
   * `idleMs`: every restart joins under a new name, and old names would pile up forever.
   * Returns the names deleted.
   */
  async pruneConsumers(idleMs: number = STALE_CONSUMER_MS): Promise<string[]> {
    const { redis, stream, group, consumer } = this.options;
    const reply: unknown = await redis.xinfo("CONSUMERS", stream, group);
    const deleted: string[] = [];
    for (const item of listOf(reply)) {
      const fields = new Map<string, unknown>();
      if (Array.isArray(item)) for (let i = 0; i + 1 < item.length; i += 2) fields.set(String(item[i]), item[i + 1]);
      const name = fields.get("name");
      if (typeof name !== "string" || name === consumer) continue;
      if (Number(fields.get("pending")) !== 0 || Number(fields.get("idle")) < idleMs) continue;
      await redis.xgroup("DELCONSUMER", stream, group, name);
      deleted.push(name);
    }
    return deleted;
  }

  /** Reads until stop(); resolves once the entry in hand is stored and acknowledged. */
  async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const entries = await this.next();
        if (entries.length > 0) {
          await this.options.handle(entries);
          await this.options.redis.xack(this.options.stream, this.options.group, ...entries.map((entry) => entry.id));
        }
        this.failures = 0;
      } catch (error) {
        await this.failed(error);
      }
    }
  }

  stop(): void {
    this.stopped = true;
  }

  private async next(): Promise<LogEntry[]> {
    const { redis, stream, group, consumer, claimIdleMs } = this.options;
    if (Date.now() - this.lastClaimAt >= claimIdleMs / 2) {
      const reply = await redis.callBuffer("XAUTOCLAIM", stream, group, consumer, claimIdleMs, this.claimCursor, "COUNT", READ_COUNT);
      const { cursor, entries: claimed } = claimReply(reply);
      this.claimCursor = cursor;
      if (this.claimCursor === "0-0") this.lastClaimAt = Date.now();
      if (claimed.length > 0) {
        this.options.logger.info(`claimed ${claimed.length} log entries left by a stopped bot`);
        return claimed;
      }
    }
    const block = this.cursor === ">" ? ["BLOCK", READ_BLOCK_MS] : [];
    const reply = await redis.callBuffer(
      "XREADGROUP",
      "GROUP",
      group,
      consumer,
      "COUNT",
      READ_COUNT,
      ...block,
      "STREAMS",
      stream,
      this.cursor,
    );
    const entries = readReply(reply);
    if (this.cursor !== ">" && entries.length === 0) this.cursor = ">";
    else if (this.cursor !== ">") this.cursor = entries.at(-1)?.id ?? ">";
    return entries;
  }

  private async failed(error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    if (message.startsWith("NOGROUP")) {
      // The stream or group is gone (Redis restarted without persistence, or someone deleted it).
      this.options.logger.warn(`the event log ${this.options.stream} or its group is gone; creating them again (${message})`);
      this.cursor = "0";
      await this.ensureGroup("0").catch(() => undefined);
      return;
    }
    this.failures += 1;
    // Entries read but not stored are pending for this consumer: read them again first.
    this.cursor = "0";
    const wait = Math.min(backoffMs(this.failures, 200), MAX_READ_RETRY_MS);
    this.options.logger.warn(`reading the event log failed (${this.failures} in a row): ${message}; retrying in ${wait} ms`);
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
