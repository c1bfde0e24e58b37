// Remembers which Discord message shows which job, so a restarted bot edits the same message.

import type { Redis } from "ioredis";
import { z } from "zod";
import { MESSAGE_KEY_PREFIX, MESSAGE_KEY_TTL_S } from "./config.ts";
import type { MessageRef } from "./discord_port.ts";

export interface MessageStore {
  get(requestId: string): Promise<MessageRef | null>;
  set(requestId: string, ref: MessageRef): Promise<void>;
}

const StoredRef = z.object({ channel_id: z.string().min(1), message_id: z.string().min(1) });

export function messageKey(requestId: string): string {
  return MESSAGE_KEY_PREFIX + requestId;
}

export class RedisMessageStore implements MessageStore {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number = MESSAGE_KEY_TTL_S,
  ) {}

  async get(requestId: string): Promise<MessageRef | null> {
    const text = await this.redis.get(messageKey(requestId));
    if (text === null) return null;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return null; // someone else's value under our key: start a new message
    }
    const parsed = StoredRef.safeParse(raw);
    return parsed.success ? { channelId: parsed.data.channel_id, messageId: parsed.data.message_id } : null;
  }

  async set(requestId: string, ref: MessageRef): Promise<void> {
    const value = JSON.stringify({ channel_id: ref.channelId, message_id: ref.messageId });
    await this.redis.set(messageKey(requestId), value, "EX", this.ttlSeconds);
  }
}

export class MemoryMessageStore implements MessageStore {
  readonly refs = new Map<string, MessageRef>();

  get(requestId: string): Promise<MessageRef | null> {
    return Promise.resolve(this.refs.get(requestId) ?? null);
  }

  set(requestId: string, ref: MessageRef): Promise<void> {
    this.refs.set(requestId, ref);
    return Promise.resolve();
  }
}
