// Listens to the events channel; ioredis reconnects and resubscribes by itself.

import { Redis } from "ioredis";
import type { Logger } from "./log.ts";

const MAX_RECONNECT_DELAY_MS = 5_000;

/** Reconnect delay: grows with each failed attempt, capped, never gives up. */
export function reconnectDelay(attempt: number): number {
  return Math.min(100 * attempt, MAX_RECONNECT_DELAY_MS);
}

export interface Subscription {
  readonly redis: Redis;
  close(): Promise<void>;
}

export async function subscribe(
  redisUrl: string,
  channel: string,
  onMessage: (payload: Buffer) => void,
  logger: Logger,
): Promise<Subscription> {
  const redis = new Redis(redisUrl, {
    retryStrategy: reconnectDelay,
    autoResubscribe: true,
    // A subscriber sends only SUBSCRIBE; keep it queued while disconnected.
    maxRetriesPerRequest: null,
    lazyConnect: true,
  });
  let wasReady = false;
  redis.on("ready", () => {
    if (wasReady) logger.info(`reconnected to Redis; subscribed to ${channel} again`);
    wasReady = true;
  });
  redis.on("error", (error: Error) => {
    logger.warn(`Redis subscriber: ${error.message}`);
  });
  // Raw bytes, so size and UTF-8 are checked by the decoder rather than patched over here.
  redis.on("messageBuffer", (from: Buffer, payload: Buffer) => {
    if (from.toString() === channel) onMessage(payload);
  });
  await redis.connect();
  await redis.subscribe(channel);
  return {
    redis,
    close: async () => {
      redis.disconnect();
      await Promise.resolve();
    },
  };
}

/** A connection for commands (message ids); fails fast while Redis is away. */
export function commandClient(redisUrl: string, logger: Logger): Redis {
  const redis = new Redis(redisUrl, { retryStrategy: reconnectDelay, maxRetriesPerRequest: 1, commandTimeout: 2_000 });
  redis.on("error", (error: Error) => {
    logger.warn(`Redis: ${error.message}`);
  });
  return redis;
}
