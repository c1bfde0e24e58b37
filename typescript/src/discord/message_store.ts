// Remembers which Discord message shows which job run, so a restarted bot, or another bot that
// takes the job over, edits the same message. The value names the user too: a stored message of
// another user is refused, never edited.

import type { Redis } from "ioredis";
import { z } from "zod";
import { JOB_KEY_TTL_S } from "../shared/limits.ts";
import type { MessageRef } from "./discord_port.ts";
import { userOfMessageKey } from "../jobs/job.ts";

export interface MessageStore {
  /** The message of `key` (see messageKeyFor); null when there is none yet. Throws when Redis fails. */
  get(key: string): Promise<MessageRef | null>;
  set(key: string, ref: MessageRef): Promise<void>;
}

const StoredRef = z.object({ channel_id: z.string().min(1), message_id: z.string().min(1), user_id: z.string().regex(/^[0-9]{1,20}$/) });

export class RedisMessageStore implements MessageStore {
  /** `prefix` is the bot's key prefix (`digits:bot:<group>:`). */
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number = JOB_KEY_TTL_S,
  ) {}

  redisKey(key: string): string {
    return `${this.prefix}message:${key}`;
  }

  async get(key: string): Promise<MessageRef | null> {
    const text = await this.redis.get(this.redisKey(key));
    if (text === null) return null;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return null; // someone else's value under our key: start a new message
    }
    const parsed = StoredRef.safeParse(raw);
    if (!parsed.success || BigInt(parsed.data.user_id) !== userOfMessageKey(key)) return null;
    return { channelId: parsed.data.channel_id, messageId: parsed.data.message_id };
  }

  async set(key: string, ref: MessageRef): Promise<void> {
    const user = userOfMessageKey(key);
    const value = JSON.stringify({ channel_id: ref.channelId, message_id: ref.messageId, user_id: user === null ? "" : user.toString() });
    await this.redis.set(this.redisKey(key), value, "EX", this.ttlSeconds);
  }
}

export class MemoryMessageStore implements MessageStore {
  readonly refs = new Map<string, MessageRef>();

  get(key: string): Promise<MessageRef | null> {
    return Promise.resolve(this.refs.get(key) ?? null);
  }

  set(key: string, ref: MessageRef): Promise<void> {
    this.refs.set(key, ref);
    return Promise.resolve();
  }
}
